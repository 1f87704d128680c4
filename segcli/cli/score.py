"""``segcli score PRED GT``: every loss and overlap/surface score, per image and summarised."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import local_input, local_output, output_or_stdout
from segcli.cli._output import (
    cap_workers,
    fail,
    info,
    library_errors,
    option_errors,
    parse_floats,
    progress,
    state,
    warn,
)
from segcli.display import printable_lines
from segcli.journal import journal_path
from segcli.outputs import TEXT_ERRORS, is_stream_target


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"


class PredKindChoice(str, Enum):
    auto = "auto"
    prob = "prob"
    logits = "logits"
    mask = "mask"
    labels = "labels"


class ObjectMode(str, Enum):
    instances = "instances"
    components = "components"


class Missing(str, Enum):
    error = "error"
    skip = "skip"
    empty = "empty"


LOSS_PANEL = "Loss parameters"
MC_PANEL = "Multi-class"


def score(
    pred: Annotated[
        str, typer.Argument(help="Prediction file or directory (searched recursively), or an fsspec URL (s3://...).")
    ],
    gt: Annotated[str, typer.Argument(help="Ground-truth file or directory (searched recursively), or an fsspec URL.")],
    metrics: Annotated[
        str, typer.Option(help="Comma list of scores and groups (region, surface, losses), or all.")
    ] = "all",
    fmt: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format", help="Output format \\[default: table on a terminal, else csv; from --output's extension]."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            parser=output_or_stdout,
            help="Write the report here (atomically) instead of stdout (- is stdout).",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            parser=local_output,
            help="Also write a self-contained HTML report here (plots, worst cases, failures).",
            rich_help_panel="Report",
        ),
    ] = None,
    report_sort: Annotated[
        str | None,
        typer.Option(
            help="Score that ranks the report's worst cases \\[default: dice, else the first score].",
            rich_help_panel="Report",
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            parser=local_input,
            help="Images shown under the report's contours, matched like PRED.",
            rich_help_panel="Report",
        ),
    ] = None,
    empty_distance: Annotated[
        str,
        typer.Option(
            help="A distance score with exactly one side empty (a missed structure): inf, worst (the image "
            "diagonal in spacing units), nan (left out of means, counted) or a number.",
        ),
    ] = "inf",
    ci: Annotated[
        float | None,
        typer.Option(help="Add a confidence interval of each mean to the summary (e.g. 0.95): BCa bootstrap."),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for --ci.")] = 9999,
    seed: Annotated[int, typer.Option(help="Seed of the --ci bootstrap (same data, same interval).")] = 0,
    resume: Annotated[
        bool,
        typer.Option(help="Finish an interrupted run: score only the pairs missing from --output's partial file."),
    ] = False,
    pred_kind: Annotated[PredKindChoice, typer.Option(help="How to read predictions.")] = PredKindChoice.auto,
    threshold: Annotated[
        float | None, typer.Option(help="Hard prediction = probability >= threshold \\[default: 0.5].")
    ] = None,
    rater: Annotated[
        list[str] | None,
        typer.Option(
            help="Another rater's ground truth (a directory matched like GT; repeatable): adds rater<k>., "
            "majority., staple. and interrater. columns (binary mode).",
        ),
    ] = None,
    objects: Annotated[
        ObjectMode | None,
        typer.Option(
            help="Object-level scores (cells, lesions): instances = label maps as they are, components = "
            "connected components of the masks.",
            rich_help_panel="Objects",
        ),
    ] = None,
    iou_threshold: Annotated[
        float,
        typer.Option(
            help="A predicted object matches a GT object when their IoU is above this.", rich_help_panel="Objects"
        ),
    ] = 0.5,
    connectivity: Annotated[
        int | None,
        typer.Option(
            help="Components: neighbours at most this many axes apart (1 = 4/6) \\[default: full, 8/26].",
            rich_help_panel="Objects",
        ),
    ] = None,
    objects_out: Annotated[
        Path | None,
        typer.Option(
            parser=local_output,
            help="A CSV with every GT and predicted object (matched/missed/false/split/merged).",
            rich_help_panel="Objects",
        ),
    ] = None,
    thresholds: Annotated[
        str | None,
        typer.Option(
            help="Score probability maps at each threshold START:STOP:STEP (STOP included) or a comma list: "
            "long output (name, threshold, score, value) and the best threshold per score.",
        ),
    ] = None,
    spacing_unit: Annotated[
        str | None,
        typer.Option(
            help="The unit of --spacing (mm, um, ...), stated beside every distance \\[default: unspecified]."
        ),
    ] = None,
    spacing: Annotated[
        str | None,
        typer.Option(
            help="Voxel spacing in array axis order, e.g. 2.0,0.5,0.5 \\[default: from the files' metadata, else 1]."
        ),
    ] = None,
    ignore_geometry: Annotated[
        bool,
        typer.Option(help="Score pairs whose headers disagree on spacing, origin or direction, with the GT's spacing."),
    ] = False,
    nsd_tolerance: Annotated[float, typer.Option(help="Tolerance of nsd, in spacing units.")] = 1.0,
    device: Annotated[
        str,
        typer.Option(
            help="auto, cpu, cuda or cuda:N. auto picks cuda:0 only for a binary run that asks for surface "
            "scores or distance losses and is large for its CPU workers (a GPU found, torch sees it), else the "
            "CPU; --resume continues on the device the run recorded.",
        ),
    ] = "auto",
    workers: Annotated[int | None, typer.Option(help="Parallel worker processes \\[default: all cores].")] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Score on a Dask cluster (tcp://host:8786): each pair a task on a worker (needs segcli[dask]).",
        ),
    ] = None,
    pred_suffix: Annotated[str, typer.Option(help="Suffix removed from prediction names before matching.")] = "",
    gt_suffix: Annotated[
        str, typer.Option(help="Suffix removed from ground-truth names before matching (nnU-Net: _0000).")
    ] = "",
    missing: Annotated[
        Missing, typer.Option(help="Unmatched files: error (exit 2), skip, or empty (missing prediction = empty mask).")
    ] = Missing.error,
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first pair that cannot be scored.")] = False,
    max_memory: Annotated[
        float | None,
        typer.Option(
            help="GiB the whole run may use; a pair that would need more is reported, not scored "
            "\\[default: 80% of physical memory]."
        ),
    ] = None,
    num_classes: Annotated[
        int | None, typer.Option(help="Multi-class mode with K classes (GT is a label map).", rich_help_panel=MC_PANEL)
    ] = None,
    ignore_index: Annotated[
        int | None,
        typer.Option(
            help="GT label that takes part in nothing (multi-class) \\[default: 255].", rich_help_panel=MC_PANEL
        ),
    ] = None,
    include_background: Annotated[
        bool, typer.Option(help="Score class 0 too (multi-class).", rich_help_panel=MC_PANEL)
    ] = False,
    class_names: Annotated[
        str | None, typer.Option(help="Comma list of K class names for the columns.", rich_help_panel=MC_PANEL)
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            parser=local_input,
            help='nnU-Net dataset.json: its "labels" name and choose the classes (lists are regions); '
            "sets the multi-class mode \\[default: none].",
            rich_help_panel=MC_PANEL,
        ),
    ] = None,
    class_weights: Annotated[
        str | None,
        typer.Option(
            help="ce class weights: a comma list or the JSON of segcli classweights.", rich_help_panel=MC_PANEL
        ),
    ] = None,
    class_weight_scheme: Annotated[
        str, typer.Option(help="Scheme to take from a --class-weights JSON.", rich_help_panel=MC_PANEL)
    ] = "inverse",
    focal_alpha: Annotated[
        float, typer.Option(help="focal_loss alpha (negative: no class weighting).", rich_help_panel=LOSS_PANEL)
    ] = 0.25,
    focal_gamma: Annotated[float, typer.Option(help="focal_loss gamma.", rich_help_panel=LOSS_PANEL)] = 2.0,
    tversky_alpha: Annotated[
        float, typer.Option(help="Tversky weight of false positives.", rich_help_panel=LOSS_PANEL)
    ] = 0.3,
    tversky_beta: Annotated[
        float, typer.Option(help="Tversky weight of false negatives.", rich_help_panel=LOSS_PANEL)
    ] = 0.7,
    focal_tversky_gamma: Annotated[
        float, typer.Option(help="focal_tversky_loss exponent.", rich_help_panel=LOSS_PANEL)
    ] = 0.75,
    pos_weight: Annotated[
        float | None,
        typer.Option(
            help="wbce positive weight \\[default: negatives/positives per image].", rich_help_panel=LOSS_PANEL
        ),
    ] = None,
    w0: Annotated[float, typer.Option(help="unet_wce border weight w0.", rich_help_panel=LOSS_PANEL)] = 10.0,
    sigma: Annotated[
        float, typer.Option(help="unet_wce border width sigma (spacing units).", rich_help_panel=LOSS_PANEL)
    ] = 5.0,
    smooth: Annotated[
        float,
        typer.Option(help="Smoothing s of the Dice and Tversky losses.", rich_help_panel=LOSS_PANEL),
    ] = 1e-6,
    dice_gamma: Annotated[
        float, typer.Option(help="squared_dice_loss exponent of p and g (V-Net: 2).", rich_help_panel=LOSS_PANEL)
    ] = 2.0,
    combine: Annotated[
        str | None,
        typer.Option(
            help='A weighted sum of losses, e.g. "0.3*bce + 0.4*dice_loss + 0.3*boundary_loss", reported as '
            "the column combined.",
            rich_help_panel=LOSS_PANEL,
        ),
    ] = None,
) -> None:
    """Score predictions against ground truth: one record per pair, then a summary."""
    from segcli.batch import ScoreOptions
    from segcli.scoring import ScoreSettings

    with library_errors(), option_errors(OPTION_FLAGS):
        from segcli import multiclass, registry
        from segcli.device import resolve_device
        from segcli.pairing import pair_files
        from segcli.remote import as_input

        pred, gt = as_input(pred, name="PRED"), as_input(gt, name="GT")  # a path, or an fsspec URL
        rater = [as_input(root, name="--rater") for root in rater] if rater else rater
        if scheduler:
            from segcli.cluster import check_address

            check_address(scheduler)  # a malformed address: refused before any work
        if workers is not None and workers < 1:
            raise typer.BadParameter(f"expected >= 1, got {workers}", param_hint="--workers")
        if ci is not None and not 0 < ci < 1:
            raise typer.BadParameter(f"expected a level in (0, 1) such as 0.95, got {ci}", param_hint="--ci")
        if bootstrap < 1:
            raise typer.BadParameter(f"expected >= 1, got {bootstrap}", param_hint="--bootstrap")
        if seed < 0:
            raise typer.BadParameter(f"expected >= 0, got {seed}", param_hint="--seed")
        if resume and output is None:
            raise typer.BadParameter(
                "needs --output FILE (a run written to stdout cannot be resumed)", param_hint="--resume"
            )
        class_labels = None
        if labels is not None:
            class_labels, num_classes, ignore_index = multiclass.labels_for_settings(
                labels, num_classes=num_classes, class_names=class_names, ignore_index=ignore_index
            )
        if not metrics.replace(",", "").strip():
            raise typer.BadParameter("expected score or group names, or all; got nothing", param_hint="--metrics")
        if report is None and (report_sort is not None or images is not None):
            warn("--report-sort and --images shape the HTML report; without --report they do nothing")
        if spacing_unit is not None and spacing is None:
            warn("--spacing-unit names the unit of --spacing; without --spacing it does nothing")
        if class_weight_scheme != "inverse" and (class_weights is None or not _file_option(class_weights)):
            warn("--class-weight-scheme picks from a --class-weights JSON file; without one it does nothing")
        if pred_kind is PredKindChoice.labels and num_classes is None:
            raise typer.BadParameter(
                "labels are read in multi-class mode: add --num-classes K", param_hint="--pred-kind"
            )
        metrics, object_metrics = _split_object_metrics(metrics, objects)
        if num_classes is None:
            chosen = [s.name for s in registry.select(metrics)] if metrics else []
        else:
            if num_classes < 2:
                raise typer.BadParameter(
                    f"expected >= 2, got {num_classes} (leave it out to score binary masks)", param_hint="--num-classes"
                )
            chosen = multiclass.select(metrics)
        names = tuple(class_names.split(",")) if class_names else None
        weights = None
        if class_weights is not None:
            weights = multiclass.load_class_weights(class_weights, class_weight_scheme, num_classes)
        options = ScoreOptions(
            nsd_tolerance=nsd_tolerance,
            focal_alpha=focal_alpha,
            focal_gamma=focal_gamma,
            tversky_alpha=tversky_alpha,
            tversky_beta=tversky_beta,
            focal_tversky_gamma=focal_tversky_gamma,
            pos_weight=pos_weight,
            unet_w0=w0,
            unet_sigma=sigma,
            empty_distance=_empty_distance(empty_distance),
            smooth=smooth,
            dice_gamma=dice_gamma,
            combine=() if combine is None else registry.parse_combination(combine, multiclass=num_classes is not None),
        )
        threshold_values = _thresholds(thresholds, threshold, chosen) if num_classes is None else None
        if thresholds is not None and num_classes is not None:
            raise typer.BadParameter("applies to binary scoring, not --num-classes", param_hint="--thresholds")
        settings = ScoreSettings(
            metrics=tuple(chosen) + ((registry.COMBINED,) if combine is not None else ()),
            options=options,
            pred_kind=pred_kind.value,
            threshold=0.5 if threshold is None else threshold,
            thresholds=threshold_values,
            spacing_unit=spacing_unit,
            spacing_override=parse_floats(spacing, "--spacing"),
            num_classes=num_classes,
            ignore_index=255 if ignore_index is None else ignore_index,
            include_background=include_background,
            class_names=names,
            class_weights=weights,
            ignore_geometry=ignore_geometry,
            class_labels=class_labels,
        )
        _warn_about_settings(settings, pred, gt, ignore_index)
        target = _check_output(output, overwrite, resume)
        report_target = _check_report(report, output, overwrite or resume, report_sort, chosen, num_classes, images)
        resolved_device = resolve_device(device)
        if resolved_device != "cpu" and num_classes is not None:
            warn("multi-class scores run on the CPU; --device applies to binary scoring")
        pairing = pair_files(pred, gt, pred_suffix=pred_suffix, gt_suffix=gt_suffix, missing=missing.value)
        for path in pairing.unmatched_pred:
            warn(f"{path}: prediction without ground truth, skipped")
        if missing is Missing.skip:
            for path in pairing.unmatched_gt:
                warn(f"{path}: ground truth without prediction, skipped")
        if missing is Missing.empty:
            empty = [pair.name for pair in pairing.pairs if pair.pred is None]
            if empty:
                shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
                warn(f"{len(empty)} ground truth(s) without prediction scored against an empty one: {shown}")
        if rater:
            pairing = _with_raters(pairing, rater, num_classes, threshold_values, gt_suffix)
            settings = replace(settings, staple=_staple_or_note())
            from segcli.raters import rater_columns

            columns_extra = rater_columns(settings.metrics, len(rater) + 1, staple=settings.staple)
        else:
            columns_extra = []
        if connectivity is not None and connectivity not in (1, 2, 3):
            raise typer.BadParameter(f"expected 1, 2 or 3, got {connectivity}", param_hint="--connectivity")
        if object_metrics:
            if connectivity is not None and objects != "components":
                warn("--connectivity applies to --objects components; instance maps are used as they are")
            settings = replace(
                settings,
                objects=objects or "components",
                object_metrics=tuple(object_metrics),
                iou_threshold=iou_threshold,
                object_connectivity=connectivity,
                object_rows=objects_out is not None,
            )
            columns_extra = columns_extra + list(object_metrics)
        elif objects_out is not None:
            raise typer.BadParameter("needs --objects or an object score in --metrics", param_hint="--objects-out")
        objects_target = _check_objects_out(objects_out, output, overwrite or resume)
        _never_over_inputs(
            pairing.pairs,
            {"--output": target, "--report": report_target, "--objects-out": objects_target},
            extra=[labels, _file_option(class_weights)],
            inside=[images],
        )
        _say_format_mismatch(output, fmt)
        stack = contextlib.ExitStack()
        client = None
        if scheduler:
            from segcli.cluster import connect, threads_per_worker

            client = stack.enter_context(connect(scheduler))
            info(f"scoring on the Dask cluster at {scheduler} ({len(client.nthreads())} worker(s))")
            if resolved_device != "cpu":
                warn("--device applies to local runs; the cluster scores on its workers' CPUs")
                resolved_device = "cpu"
            workers = threads_per_worker(client)  # pairs one worker's memory is shared by
        else:
            from segcli.cpus import plan_cpus
            from segcli.pipeline import default_workers

            workers = cap_workers(workers, len(pairing.pairs), default_workers(), "pair")
            if device == "auto":  # the rule of segcli.device; never imports torch without a GPU
                from segcli.device import auto_device

                resolved_device = auto_device(
                    settings.metrics,
                    [pair.gt for pair in pairing.pairs if isinstance(pair.gt, Path)],  # URLs: the CPU
                    workers=workers,
                    device_path=num_classes is None and settings.thresholds is None and not rater,
                    journal=journal_path(target) if resume and target is not None else None,
                )
        cpu_plan = None if client is not None else plan_cpus(len(pairing.pairs), workers)
        settings = replace(settings, max_memory=_memory_budget(max_memory, workers))
        columns = multiclass.columns(settings) if num_classes is not None else list(settings.metrics) + columns_extra
        if settings.thresholds is not None:
            from segcli.scoring import threshold_suffix

            columns = [f"{m}{threshold_suffix(t)}" for t in settings.thresholds for m in settings.metrics]
        record = _settings_record(settings, resolved_device)
        if cpu_plan is not None:  # workers x threads, and the CPUs they were planned for
            record["cpu_plan"] = cpu_plan.record()
        if ci is not None:
            record |= {"ci": ci, "bootstrap": bootstrap, "seed": seed}
        run = _Run(
            pairs=pairing.pairs,
            settings=settings,
            columns=columns,
            fmt=_choose_format(fmt, output),
            record=record,
            interval=(ci, bootstrap, seed) if ci is not None else None,
            client=client,
            workers=workers,
            threads=cpu_plan.threads_per_worker if cpu_plan is not None else 1,
            device=resolved_device,
            fail_fast=fail_fast,
        )
        with stack:
            if report_target is not None:
                from segcli.outputs import OutputLock

                stack.enter_context(OutputLock(report_target))
            if target is None or is_stream_target(target):
                run.to_stream(sys.stdout if target is None else target)
            else:
                run.to_file(target, resume=resume, overwrite=overwrite)
            if objects_target is not None:
                _write_objects_out(run, objects_target)
            if report_target is not None:
                from segcli.cli.report import write_report

                sort_by = report_sort or ("dice" if "dice" in chosen else (chosen or ["obj_f1"])[0])
                results = run.results()
                if run.complete is not None:  # the records are in the finished output, not in memory
                    if run.fmt != "jsonl":
                        from segcli.errors import UsageError

                        raise UsageError(
                            f"--report: {run.complete} is complete and a {run.fmt} output cannot rebuild the "
                            "report; write runs as jsonl, or score again with --overwrite"
                        )
                    from segcli.html_report import RunResults

                    results = RunResults.from_jsonl(run.complete)
                write_report(results, report_target, sort_by=sort_by, images=images, inputs=(pred, gt))
        if run.failures:
            fail(f"{len(run.failures)} of {len(pairing.pairs)} pair(s) could not be scored", 1)


def _split_object_metrics(metrics: str, objects) -> tuple[str, list[str]]:
    """The --metrics spec without object scores, and the object scores chosen: the group
    ``objects`` or their names; with --objects and no object score named, all of them."""
    from segcli.objects import SCORE_NAMES

    items = [item.strip() for item in metrics.split(",") if item.strip()]
    chosen = [n for n in SCORE_NAMES if "objects" in items or n in items]
    rest = [item for item in items if item != "objects" and item not in SCORE_NAMES]
    if objects is not None and not chosen:
        chosen = list(SCORE_NAMES)
    if not rest and not chosen:
        rest = ["all"]
    return ",".join(rest), chosen


def _never_over_inputs(pairs, targets: dict, *, extra=(), inside=()) -> None:
    """An output path that is one of the run's input files is refused, with or without --overwrite:
    the pairs' files, ``extra`` input files (a dataset.json, a class-weights JSON), and any path
    inside the ``inside`` directories (--images; compare's PRED and GT), existing or not."""
    from segcli.errors import UsageError
    from segcli.remote import local_path

    inputs = [path for pair in pairs for path in (pair.pred, pair.gt, *pair.raters)] + list(extra)
    # An input exists, so only an existing target can be one; the same file is the same
    # (device, inode), whatever links lead to it (one stat per input, not a path resolution).
    existing = {}
    for option, target in targets.items():
        if target is not None and not is_stream_target(target):
            with contextlib.suppress(OSError):
                found = os.stat(target)
                existing[(found.st_dev, found.st_ino)] = (option, target)
    for path in inputs if existing else ():
        if path is not None and (local := local_path(path)) is not None:  # a remote URL is no local output
            with contextlib.suppress(OSError):
                found = os.stat(local)
                if (found.st_dev, found.st_ino) in existing:
                    option, target = existing[(found.st_dev, found.st_ino)]
                    raise UsageError(f"{option} {target}: is one of the input files; outputs never replace inputs")
    for option, target in targets.items():
        if target is None or is_stream_target(target):
            continue
        resolved = Path(target).resolve()
        for folder in inside:
            if folder is not None and (local := local_path(folder)) is not None and os.path.isdir(local):
                root = Path(local).resolve()
                if resolved.is_relative_to(root):
                    where = "the input directory" if resolved == root else "inside the input directory"
                    raise UsageError(f"{option} {target}: is {where} {folder}; outputs never replace inputs")


def _written_format(target: Path) -> str:
    """The format of a finished output, from its first bytes: JSON is one indented document
    (``{`` and a line end), JSONL one record a line (``{"``), TSV has a tab in its header."""
    with open(target, "rb") as handle:
        head = handle.read(4096)
    text = head.lstrip()
    if text.startswith(b"{"):
        return "jsonl" if text.startswith(b'{"') else "json"
    return "tsv" if b"\t" in head.partition(b"\n")[0] else "csv"


def _recorded_paths(target: Path) -> dict[str, tuple[str, str]]:
    """name -> (pred_path, gt_path) as a finished output records them (JSON, JSON lines, CSV, TSV);
    empty where it does not (a --thresholds CSV)."""
    import csv
    import io
    import json

    text = Path(target).read_text(encoding="utf-8", errors=TEXT_ERRORS)
    if text.lstrip().startswith("{"):
        try:
            documents = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            documents = [json.loads(text)]
        records = [r for d in documents for r in ([d] if "name" in d else d.get("images", []))]
    else:
        delimiter = "\t" if "\t" in text.partition("\n")[0] else ","
        records = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    return {
        r["name"]: (r.get("pred_path") or "", r.get("gt_path") or "")
        for r in records
        if isinstance(r, dict) and "gt_path" in r and not str(r.get("name", "")).startswith("summary:")
    }


def _file_option(value: str | None) -> Path | None:
    """An option that is a file or a literal (``--class-weights 1,2`` or a JSON file): the file."""
    return Path(value) if value and os.path.isfile(value) else None


def _check_objects_out(objects_out: Path | None, output: Path | None, overwrite: bool) -> Path | None:
    if objects_out is None:
        return None
    from segcli.outputs import check_output_file

    target = check_output_file(objects_out, overwrite=overwrite, option="--objects-out")
    if output is not None and Path(output).resolve() == target.resolve():
        raise typer.BadParameter("must differ from --output", param_hint="--objects-out")
    return target


OBJECT_COLUMNS = ("image", "side", "id", "area", "centroid", "matched_id", "iou", "best_id", "best_iou", "kind")


def _write_objects_out(run, target: Path) -> None:
    """Every object of every scored pair, in pair order, written atomically."""
    from segcli.io import atomic_path
    from segcli.outputs import OutputLock
    from segcli.report import SafeCsvWriter

    with (
        OutputLock(target),
        atomic_path(target, overwrite=True) as tmp,
        open(tmp, "w", encoding="utf-8", errors=TEXT_ERRORS, newline="") as stream,
    ):
        writer = SafeCsvWriter(stream)
        writer.writerow(OBJECT_COLUMNS)
        for pair in run.pairs:
            if pair.name not in run.scored:
                continue
            for row in run.scored[pair.name][1].get("objects", []):
                cells = {"image": pair.name} | row
                cells["centroid"] = " ".join(f"{v:.6g}" for v in row["centroid"])
                writer.writerow(
                    [f"{cells[c]:.10g}" if isinstance(cells[c], float) else cells[c] for c in OBJECT_COLUMNS]
                )
    info(f"objects written to {target}")


def _with_raters(pairing, raters: list[Path], num_classes, thresholds, gt_suffix: str):
    """Each pair with its file from every --rater directory (matched by name like GT)."""
    from dataclasses import replace as replace_pair

    from segcli.errors import PairingError
    from segcli.pairing import find_images

    if num_classes is not None or thresholds is not None:
        raise typer.BadParameter("applies to binary scoring without --thresholds", param_hint="--rater")
    found = [find_images(root, suffix=gt_suffix) for root in raters]
    missing = [f"{root}: no file for {pair.name}" for root, files in zip(raters, found, strict=True)
               for pair in pairing.pairs if pair.name not in files]  # fmt: skip
    if missing:
        shown = "; ".join(missing[:5]) + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise PairingError(f"{len(missing)} rater file(s) missing: {shown}")
    pairs = [replace_pair(pair, raters=tuple(files[pair.name] for files in found)) for pair in pairing.pairs]
    return replace_pair(pairing, pairs=pairs)


def _staple_or_note() -> bool:
    from segcli.raters import STAPLE_NOTE, staple_available

    if staple_available():
        return True
    info(STAPLE_NOTE)
    return False


def _thresholds(text: str | None, threshold: float | None, chosen: list[str]) -> tuple[float, ...] | None:
    """--thresholds: only scores that depend on the hard mask; never with --threshold."""
    if text is None:
        return None
    from segcli.registry import BY_NAME
    from segcli.scoring import parse_thresholds

    if threshold is not None:
        raise typer.BadParameter("give --threshold or --thresholds, not both", param_hint="--thresholds")
    losses = [m for m in chosen if m in BY_NAME and BY_NAME[m].group == "losses"]
    if losses and len(losses) < len(chosen):
        chosen[:] = [m for m in chosen if m not in losses]  # "all": region and surface scores
    elif losses:
        raise typer.BadParameter(
            f"losses ({', '.join(losses)}) do not depend on the threshold", param_hint="--thresholds"
        )
    return parse_thresholds(text)


def _empty_distance(text: str) -> str | float:
    from segcli.batch import empty_distance_policy

    try:
        return empty_distance_policy(text)
    except ValueError:
        raise typer.BadParameter(
            f"expected inf, worst, nan or a number, got {text!r}", param_hint="--empty-distance"
        ) from None


# Settings whose CLI flag is not the setting's name with dashes.
OPTION_FLAGS = {"unet_w0": "--w0", "unet_sigma": "--sigma", "spacing_override": "--spacing"}


# Options that only one mode uses: given in the other, they are said to be ignored.
BINARY_ONLY = ("focal_alpha", "tversky_alpha", "tversky_beta", "focal_tversky_gamma", "pos_weight", "unet_w0",
               "unet_sigma")  # fmt: skip
MULTICLASS_ONLY = ("class_names", "class_weights", "include_background")


def _warn_about_settings(settings, pred, gt, ignore_index: int | None) -> None:
    """Settings that are legal but probably not what was meant: said, never silently applied."""
    from segcli.batch import ScoreOptions

    defaults = ScoreOptions()
    if settings.num_classes is None:
        if ignore_index is not None:
            warn("--ignore-index applies to multi-class scoring (--num-classes); ignored in binary mode")
        for name in MULTICLASS_ONLY:
            if getattr(settings, name) not in (None, False):
                flag = OPTION_FLAGS.get(name, "--" + name.replace("_", "-"))
                warn(f"{flag} applies to multi-class scoring (--num-classes); ignored in binary mode")
    else:
        for name in BINARY_ONLY:
            if getattr(settings.options, name) != getattr(defaults, name):
                flag = OPTION_FLAGS.get(name, "--" + name.replace("_", "-"))
                warn(f"{flag} applies to binary scoring; no multi-class score uses it")
    if settings.num_classes is not None and 0 <= settings.ignore_index < settings.num_classes:
        warn(
            f"--ignore-index {settings.ignore_index} is also class {settings.ignore_index} of "
            f"0..{settings.num_classes - 1}: "
            "its ground-truth pixels are ignored, so the class is never scored against ground truth"
        )
    from segcli.remote import local_path

    with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: a symbolic link loop (pathlib)
        local_pred, local_gt = local_path(pred), local_path(gt)
        local = local_pred is not None and local_gt is not None
        if local_pred.resolve() == local_gt.resolve() if local else str(pred) == str(gt):
            warn(f"PRED and GT are the same path ({gt}): every prediction is scored against itself")


def _check_output(output: Path | None, overwrite: bool, resume: bool) -> Path | None:
    """The output's problems, found before any work (exists, a directory, a file as parent)."""
    if output is None:
        return None
    from segcli.outputs import check_output_file

    target = check_output_file(output, overwrite=overwrite or resume, resume=resume)
    if not is_stream_target(target) and journal_path(target).exists():
        from segcli.outputs import OutputLock

        with OutputLock(target):  # a live run writing it: refused here, naming that run
            pass
    if not resume and not overwrite and not is_stream_target(target) and journal_path(target).exists():
        from segcli.errors import UsageError

        raise UsageError(
            f"{journal_path(target)}: holds the results of an interrupted run; pass --resume to continue it "
            "or --overwrite to start again"
        )
    if resume and is_stream_target(target):
        raise typer.BadParameter(f"{target} is not a regular file; nothing to resume", param_hint="--resume")
    return target


def _check_report(report, output, overwrite, sort_by, chosen, num_classes, images) -> Path | None:
    """The report's target and options, checked before any work."""
    if report is None:
        return None
    from segcli.outputs import check_output_file

    target = check_output_file(report, overwrite=overwrite, option="--report")
    if output is not None and Path(output).resolve() == target.resolve():
        raise typer.BadParameter("must differ from --output", param_hint="--report")
    if sort_by is not None and sort_by not in chosen and not any(sort_by.startswith(f"{c}_") for c in chosen):
        raise typer.BadParameter(f"{sort_by!r} is not among the scores computed", param_hint="--report-sort")
    if images is not None and not Path(images).exists():
        raise typer.BadParameter(f"{images}: no such file or directory", param_hint="--images")
    return target


@dataclass
class _Run:
    """One scoring run: the pairs, what to compute, where the records go."""

    pairs: list
    settings: object
    columns: list[str]
    fmt: str
    record: dict
    workers: int
    device: str
    fail_fast: bool
    threads: int = 1  # each worker's threads for its own transforms (segcli.cpus)
    interval: tuple[float, int, int] | None = None  # --ci, --bootstrap, --seed
    client: object = None  # a dask.distributed Client (--scheduler)
    failures: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)
    scored: dict[str, tuple[dict, dict]] = field(default_factory=dict)
    complete: Path | None = None  # --resume found this output already complete (nothing scored now)

    def results(self):
        """The run's records in pair order, for the HTML report."""
        from segcli.html_report import RunResults

        units = distance_units(meta for _, meta in self.scored.values())
        results = RunResults(columns=list(self.columns), settings=self.record | {"units": units})
        for pair in self.pairs:
            if pair.name in self.scored:
                values, meta = self.scored[pair.name]
                results.names.append(pair.name)
                results.rows.append(values)
                results.metas.append(meta)
        results.failures = [(name, self.messages.get(name, "")) for name in self.failures]
        return results

    def outcomes(self, pairs) -> Iterator:
        """Scored records of ``pairs`` in order; failures and warnings said on stderr as they come."""
        from segcli.outcomes import Failure
        from segcli.pipeline import score_pairs

        seen: set[str] = set()
        with progress(len(pairs), "scoring") as advance:
            for outcome in score_pairs(
                pairs,
                self.settings,
                workers=self.workers,
                threads=self.threads,
                on_done=advance,
                torch_device=None if self.device == "cpu" else self.device,
                client=self.client,
            ):
                for message in outcome.warnings:
                    if message not in seen:
                        seen.add(message)
                        warn(message)
                if isinstance(outcome, Failure):
                    self.failures.append(outcome.name)
                    self.messages[outcome.name] = outcome.message
                    warn(f"not scored: {outcome.message}")
                    if outcome.detail and state["debug"]:
                        typer.echo(printable_lines(outcome.detail), err=True)
                    if self.fail_fast:
                        return
                else:
                    yield outcome

    def writer(self, stream):
        from segcli.report import META_COLUMNS, ReportWriter

        confidence, n_resamples, seed = self.interval or (None, None, None)
        if self.settings.thresholds is not None:
            from segcli.registry import BY_NAME
            from segcli.report import ThresholdWriter

            direction = {name: BY_NAME[name].higher_is_better for name in self.settings.metrics}
            return ThresholdWriter(stream, self.fmt, self.columns, higher_is_better=direction, settings=self.record)
        return ReportWriter(
            stream,
            self.fmt,
            self.columns,
            settings=self.record,
            meta_columns=META_COLUMNS,
            confidence=confidence,
            n_resamples=n_resamples,
            seed=seed,
            empty_distance=self.settings.options.empty_distance,
        )

    def finish(self, writer) -> None:
        """The summary (with the distances' unit), and one line on stderr for each column left
        without an interval and for pairs whose units disagree."""
        units = distance_units(writer.metas)
        writer.settings = writer.settings | {"units": units}
        writer.unit_note = "distances in " + ("mixed units" if units["distance"] == "mixed" else units["distance"])
        if units["distance"] == "mixed":
            counts = ", ".join(f"{unit}: {n}" for unit, n in units["pairs"].items())
            warn(f"the pairs' distances are in different units ({counts}); see the records' spacing_source")
        summary = writer.finish(self.failures, self.messages)
        policy = self.settings.options.empty_distance
        if policy != "inf":
            touched = {c: s["n_empty_distance"] for c, s in summary.items() if s.get("n_empty_distance")}
            if touched:
                counts = ", ".join(f"{c}: {n}" for c, n in touched.items())
                info(f"--empty-distance {policy} replaced the distance of a missed structure ({counts})")
        for column, reason in writer.interval_notes.items():
            warn(f"no confidence interval for {column}: {reason}")

    def to_stream(self, target) -> None:
        """Stream records to stdout (or a device / FIFO given as --output) as they come."""
        if not isinstance(target, Path):
            self._write_stream(target)
            return
        try:
            with open(target, "w", encoding="utf-8", errors=TEXT_ERRORS, newline="") as stream:
                self._write_stream(stream)
        except OSError as exc:  # a full or closed device: named, not "stdout"
            from segcli.errors import OutputError
            from segcli.outputs import describe_os_error

            raise OutputError(describe_os_error(exc, target)) from None

    def _write_stream(self, stream) -> None:
        writer = self.writer(stream)
        for outcome in self.outcomes(self.pairs):
            writer.write(outcome.name, outcome.values, outcome.meta)
            self.scored[outcome.name] = (outcome.values, outcome.meta)
        self.finish(writer)

    def _check_complete(self, target: Path) -> None:
        """--resume of a finished output: it must hold this run's results (its scores, its pairs and,
        where the file records them, its settings), else it is refused, never passed off as done."""
        from segcli.compare import read_results
        from segcli.errors import InputError, UsageError
        from segcli.journal import NOT_COMPARED, _normal

        try:
            table = read_results(target)
        except InputError:
            warn(f"{target}: cannot be read back to check that it holds this run's results")
            return
        written = _written_format(target)
        if written != self.fmt:  # a table cannot be read back: never here
            raise UsageError(
                f"{target}: complete, but written as {written}, not {self.fmt}; "
                f"pass --format {written} to keep it, or --overwrite to write it again as {self.fmt}"
            )
        differ = []
        if list(table.columns) != list(self.columns):
            differ.append("scores")
        names = {pair.name for pair in self.pairs}
        if any(name not in names for name in table.values):
            differ.append("pairs")
        recorded = _recorded_paths(target)
        for pair in self.pairs:
            paths = (str(pair.pred) if pair.pred is not None else "", str(pair.gt))
            if pair.name in recorded and recorded[pair.name] != paths:
                differ.append("input files")
                break
        if table.settings is not None:
            now = _normal(self.record)
            if any(table.settings.get(k) != v for k, v in now.items() if k not in NOT_COMPARED):
                differ.append("settings")
        if differ:
            raise UsageError(
                f"{target}: complete, but holds another run's results ({', '.join(differ)} differ); "
                "pass --overwrite to score again"
            )

    def to_file(self, target: Path, *, resume: bool, overwrite: bool) -> None:
        """Journal each record as it comes (``FILE.partial``); write FILE atomically at the end."""
        from segcli.io import atomic_path
        from segcli.journal import Journal
        from segcli.outputs import OutputLock

        with OutputLock(target) as lock:
            if lock.stale is not None:
                warn(f"{lock.path}: left by process {lock.stale}, which is gone; taken over")
            if resume and not journal_path(target).exists() and target.exists():
                self._check_complete(target)
                info(f"{target} is complete; nothing to resume")
                self.complete = target
                return
            header = {"format": self.fmt, "columns": self.columns, "settings": self.record}
            journal = Journal.open(target, header, resume=resume, overwrite=overwrite)
            names = {pair.name for pair in self.pairs}
            done = {name: entry for name, entry in journal.done.items() if name in names}
            if resume:
                info(f"resuming: {len(done)} of {len(self.pairs)} pair(s) already scored in {journal.path}")
                if len(done) != len(journal.done):
                    journal.close()
                    from segcli.errors import UsageError

                    raise UsageError(
                        f"{journal.path}: {len(journal.done) - len(done)} of its pair(s) are not among these inputs; "
                        "repeat the interrupted run's command with --resume, or pass --overwrite to start again"
                    )
            try:
                for outcome in self.outcomes([p for p in self.pairs if p.name not in done]):
                    journal.append(outcome.name, outcome.values, outcome.meta)
                    done[outcome.name] = (outcome.values, outcome.meta)
            except BaseException:
                journal.close()
                warn(
                    f"{len(done)} of {len(self.pairs)} pair(s) saved in {journal.path}; "
                    "repeat the command with --resume to finish"
                )
                raise
            with (
                atomic_path(target, overwrite=True) as tmp,
                open(tmp, "w", encoding="utf-8", errors=TEXT_ERRORS, newline="") as stream,
            ):
                writer = self.writer(stream)
                for pair in self.pairs:
                    if pair.name in done:
                        values, meta = done[pair.name]
                        writer.write(pair.name, values, meta)
                self.finish(writer)
            journal.remove()
            self.scored = done


def distance_units(metas) -> dict:
    """The unit of a run's distances: one unit, or ``mixed`` with the count of pairs per unit."""
    from collections import Counter

    counts = Counter(meta.get("unit") for meta in metas if meta.get("unit"))
    distance = next(iter(counts)) if len(counts) == 1 else ("mixed" if counts else "px")
    return {"distance": distance, "pairs": dict(sorted(counts.items()))}


def _memory_budget(max_memory: float | None, workers: int | None) -> float | None:
    """Bytes one pair may use: the run's budget shared by the pairs in flight."""
    from segcli.pipeline import default_workers, total_memory

    if max_memory is not None and max_memory <= 0:
        raise typer.BadParameter(f"expected > 0, got {max_memory}", param_hint="--max-memory")
    total = max_memory * 2**30 if max_memory is not None else (0.8 * total_memory() if total_memory() else None)
    return None if total is None else total / (workers or default_workers())


def _say_format_mismatch(output: Path | None, fmt) -> None:
    """-o's name and the format written disagree (out.html, out.csv.gz, out.json --format csv): said."""
    if output is None or is_stream_target(output):
        return
    suffix = output.suffix.lower().lstrip(".")
    written = _choose_format(fmt, output)
    if suffix in ("", written):
        return
    hint = "; the HTML page is --report" if suffix in ("html", "htm") else ""
    hint = "; it is not compressed" if suffix in ("gz", "bz2", "xz", "zip", "zst") else hint
    warn(f"{output}: written as {written}, whatever its name says{hint}")


def _choose_format(fmt, output: Path | None) -> str:
    if fmt is not None:
        return fmt.value
    if output is not None:
        suffix = output.suffix.lower().lstrip(".")
        return suffix if suffix in ("csv", "tsv", "json", "jsonl") else "csv"
    return "table" if sys.stdout.isatty() else "csv"


def _settings_record(settings, device: str) -> dict:
    from dataclasses import asdict

    record = asdict(settings)
    record["device"] = device
    return record
