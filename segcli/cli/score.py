"""``segcli score PRED GT``: every loss and overlap/surface score, per image and summarised."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import local_input, local_output_file, output_or_stdout
from segcli.cli._output import (
    cap_workers,
    fail,
    info,
    library_errors,
    option_errors,
    parse_floats,
    warn,
)
from segcli.cli._score_checks import (
    OPTION_FLAGS,
    check_objects_out,
    check_output,
    check_report,
    choose_format,
    empty_distance_option,
    file_option,
    memory_budget,
    never_over_inputs,
    refuse_an_input,
    say_format_mismatch,
    settings_record,
    split_object_metrics,
    staple_or_note,
    thresholds_option,
    warn_about_settings,
    with_raters,
)
from segcli.cli._score_run import ScoreRun, write_objects_out
from segcli.errors import OutputExistsError
from segcli.results.journal import journal_path
from segcli.results.outputs import is_stream_target


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
            parser=local_output_file,
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
            parser=local_output_file,
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
    from segcli.settings import ScoreOptions, ScoreSettings

    with library_errors(), option_errors(OPTION_FLAGS):
        from segcli.inputs.pairing import pair_files
        from segcli.inputs.remote import as_input
        from segcli.run import per_class as multiclass
        from segcli.run.device import resolve_device
        from segcli.scores import table as registry

        pred, gt = as_input(pred, name="PRED"), as_input(gt, name="GT")  # a path, or an fsspec URL
        rater = [as_input(root, name="--rater") for root in rater] if rater else rater
        if scheduler:
            from segcli.run.cluster import check_address

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
        if class_weight_scheme != "inverse" and (class_weights is None or not file_option(class_weights)):
            warn("--class-weight-scheme picks from a --class-weights JSON file; without one it does nothing")
        if pred_kind is PredKindChoice.labels and num_classes is None:
            raise typer.BadParameter(
                "labels are read in multi-class mode: add --num-classes K", param_hint="--pred-kind"
            )
        metrics, object_metrics = split_object_metrics(metrics, objects)
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
            empty_distance=empty_distance_option(empty_distance),
            smooth=smooth,
            dice_gamma=dice_gamma,
            combine=() if combine is None else registry.parse_combination(combine, multiclass=num_classes is not None),
        )
        threshold_values = thresholds_option(thresholds, threshold, chosen) if num_classes is None else None
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
        warn_about_settings(settings, pred, gt, ignore_index)
        multiclass.check_columns(settings, object_metrics)  # unique columns, before any work
        try:
            target = check_output(output, overwrite, resume)
        except OutputExistsError:  # "pass --overwrite" would be wrong advice for an input file
            refuse_an_input(output, pred, gt, pred_suffix=pred_suffix, gt_suffix=gt_suffix)
            raise
        report_target = check_report(report, output, overwrite or resume, report_sort, chosen, num_classes, images)
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
            pairing = with_raters(pairing, rater, num_classes, threshold_values, gt_suffix)
            settings = replace(settings, staple=staple_or_note())
            from segcli.run.raters import rater_columns

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
        elif iou_threshold != ScoreSettings.__dataclass_fields__["iou_threshold"].default:
            warn("--iou-threshold applies to object scores (--objects, or obj_* in --metrics); none is asked for")
        objects_target = check_objects_out(objects_out, output, overwrite or resume)
        never_over_inputs(
            pairing.pairs,
            {"--output": target, "--report": report_target, "--objects-out": objects_target},
            extra=[labels, file_option(class_weights)],
            inside=[images],
        )
        say_format_mismatch(output, fmt)
        stack = contextlib.ExitStack()
        client = None
        if scheduler:
            from segcli.run.cluster import connect, threads_per_worker

            client = stack.enter_context(connect(scheduler))
            info(f"scoring on the Dask cluster at {scheduler} ({len(client.nthreads())} worker(s))")
            if resolved_device != "cpu":
                warn("--device applies to local runs; the cluster scores on its workers' CPUs")
                resolved_device = "cpu"
            workers = threads_per_worker(client)  # pairs one worker's memory is shared by
        else:
            from segcli.engine.cpus import plan_cpus
            from segcli.run.pipeline import default_workers

            workers = cap_workers(workers, len(pairing.pairs), default_workers(), "pair")
            if device == "auto":  # the rule of segcli.run.device; never imports torch without a GPU
                from segcli.run.device import auto_device

                resolved_device = auto_device(
                    settings.metrics,
                    [pair.gt for pair in pairing.pairs if isinstance(pair.gt, Path)],  # URLs: the CPU
                    workers=workers,
                    device_path=num_classes is None and settings.thresholds is None and not rater,
                    journal=journal_path(target) if resume and target is not None else None,
                )
        cpu_plan = None if client is not None else plan_cpus(len(pairing.pairs), workers)
        settings = replace(settings, max_memory=memory_budget(max_memory, workers))
        columns = multiclass.columns(settings) if num_classes is not None else list(settings.metrics) + columns_extra
        if settings.thresholds is not None:
            from segcli.run.pair import threshold_suffix

            columns = [f"{m}{threshold_suffix(t)}" for t in settings.thresholds for m in settings.metrics]
        record = settings_record(settings, resolved_device)
        if cpu_plan is not None:  # workers x threads, and the CPUs they were planned for
            record["cpu_plan"] = cpu_plan.record()
        if ci is not None:
            record |= {"ci": ci, "bootstrap": bootstrap, "seed": seed}
        run = ScoreRun(
            pairs=pairing.pairs,
            settings=settings,
            columns=columns,
            fmt=choose_format(fmt, output),
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
                from segcli.results.outputs import OutputLock

                stack.enter_context(OutputLock(report_target))
            if target is None or is_stream_target(target):
                run.to_stream(sys.stdout if target is None else target)
            else:
                run.to_file(target, resume=resume, overwrite=overwrite)
            if objects_target is not None:
                write_objects_out(run, objects_target)
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
                    from segcli.results.read_back import RunResults

                    results = RunResults.from_jsonl(run.complete)
                write_report(results, report_target, sort_by=sort_by, images=images, inputs=(pred, gt))
        if run.failures:
            fail(f"{len(run.failures)} of {len(pairing.pairs)} pair(s) could not be scored", 1)
