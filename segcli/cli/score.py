"""``segcli score PRED GT``: every loss and overlap/surface score, per image and summarised."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._output import fail, library_errors, parse_floats, progress, warn


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


class Missing(str, Enum):
    error = "error"
    skip = "skip"
    empty = "empty"


LOSS_PANEL = "Loss parameters"
MC_PANEL = "Multi-class"


def score(
    pred: Annotated[Path, typer.Argument(help="Prediction file or directory (searched recursively).")],
    gt: Annotated[Path, typer.Argument(help="Ground-truth file or directory (searched recursively).")],
    metrics: Annotated[
        str, typer.Option(help="Comma list of scores and groups (region, surface, losses), or all.")
    ] = "all",
    fmt: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format", help="Output format [default: table on a terminal, else csv; from --output's extension]."
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here (atomically) instead of stdout.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    pred_kind: Annotated[PredKindChoice, typer.Option(help="How to read predictions.")] = PredKindChoice.auto,
    threshold: Annotated[float, typer.Option(help="Hard prediction = probability >= threshold.")] = 0.5,
    spacing: Annotated[
        str | None,
        typer.Option(help="Voxel spacing in array axis order, e.g. 2.0,0.5,0.5 [default: from TIFF metadata, else 1]."),
    ] = None,
    nsd_tolerance: Annotated[float, typer.Option(help="Tolerance of nsd, in spacing units.")] = 1.0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    workers: Annotated[int | None, typer.Option(help="Parallel worker processes [default: all cores].")] = None,
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
            "[default: 80% of physical memory]."
        ),
    ] = None,
    num_classes: Annotated[
        int | None, typer.Option(help="Multi-class mode with K classes (GT is a label map).", rich_help_panel=MC_PANEL)
    ] = None,
    ignore_index: Annotated[
        int, typer.Option(help="GT label that takes part in nothing (multi-class).", rich_help_panel=MC_PANEL)
    ] = 255,
    include_background: Annotated[
        bool, typer.Option(help="Score class 0 too (multi-class).", rich_help_panel=MC_PANEL)
    ] = False,
    class_names: Annotated[
        str | None, typer.Option(help="Comma list of K class names for the columns.", rich_help_panel=MC_PANEL)
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
        typer.Option(help="wbce positive weight [default: negatives/positives per image].", rich_help_panel=LOSS_PANEL),
    ] = None,
    w0: Annotated[float, typer.Option(help="unet_wce border weight w0.", rich_help_panel=LOSS_PANEL)] = 10.0,
    sigma: Annotated[
        float, typer.Option(help="unet_wce border width sigma (spacing units).", rich_help_panel=LOSS_PANEL)
    ] = 5.0,
) -> None:
    """Score predictions against ground truth: one record per pair, then a summary."""
    from segcli.batch import ScoreOptions
    from segcli.pipeline import Failure, ScoreSettings, score_pairs

    with library_errors():
        from segcli import multiclass, registry
        from segcli.device import resolve_device
        from segcli.pairing import pair_files
        from segcli.report import ReportWriter

        if threshold < 0 or threshold > 1:
            raise typer.BadParameter(f"expected a value in [0, 1], got {threshold}", param_hint="--threshold")
        if nsd_tolerance < 0:
            raise typer.BadParameter(f"expected >= 0, got {nsd_tolerance}", param_hint="--nsd-tolerance")
        if sigma <= 0:
            raise typer.BadParameter(f"expected > 0, got {sigma}", param_hint="--sigma")
        if workers is not None and workers < 1:
            raise typer.BadParameter(f"expected >= 1, got {workers}", param_hint="--workers")
        resolved_device = resolve_device(device)
        if resolved_device != "cpu" and num_classes is not None:
            warn("multi-class scores run on the CPU; --device applies to binary scoring")
        if num_classes is None:
            chosen = [s.name for s in registry.select(metrics)]
        else:
            if num_classes < 1:
                raise typer.BadParameter(f"expected >= 1, got {num_classes}", param_hint="--num-classes")
            chosen = multiclass.select(metrics)
        names = tuple(class_names.split(",")) if class_names else None
        if names is not None and num_classes is not None and len(names) != num_classes:
            raise typer.BadParameter(f"expected {num_classes} names, got {len(names)}", param_hint="--class-names")
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
        )
        settings = ScoreSettings(
            metrics=tuple(chosen),
            options=options,
            pred_kind=pred_kind.value,
            threshold=threshold,
            spacing_override=parse_floats(spacing, "--spacing"),
            num_classes=num_classes,
            ignore_index=ignore_index,
            include_background=include_background,
            class_names=names,
            class_weights=weights,
        )
        budget = _memory_budget(max_memory, workers)
        settings = replace(settings, max_memory=budget)
        pairing = pair_files(pred, gt, pred_suffix=pred_suffix, gt_suffix=gt_suffix, missing=missing.value)
        for path in pairing.unmatched_pred:
            warn(f"{path}: prediction without ground truth, skipped")
        if missing is Missing.skip:
            for path in pairing.unmatched_gt:
                warn(f"{path}: ground truth without prediction, skipped")
        columns = multiclass.columns(settings) if num_classes is not None else list(chosen)
        chosen_format = _choose_format(fmt, output)
        failures: list[str] = []
        seen_warnings: set[str] = set()
        with _open_output(output, overwrite) as stream:
            writer = ReportWriter(stream, chosen_format, columns, settings=_settings_record(settings, resolved_device))
            with progress(len(pairing.pairs), "scoring") as advance:
                for outcome in score_pairs(
                    pairing.pairs,
                    settings,
                    workers=workers,
                    on_done=advance,
                    torch_device=None if resolved_device == "cpu" else resolved_device,
                ):
                    for message in outcome.warnings:
                        if message not in seen_warnings:
                            seen_warnings.add(message)
                            warn(message)
                    if isinstance(outcome, Failure):
                        failures.append(outcome.name)
                        warn(f"not scored: {outcome.message}")
                        if fail_fast:
                            break
                    else:
                        writer.write(outcome.name, outcome.values)
            writer.finish(failures)
        if failures:
            fail(f"{len(failures)} of {len(pairing.pairs)} pair(s) could not be scored", 1)


def _memory_budget(max_memory: float | None, workers: int | None) -> float | None:
    """Bytes one pair may use: the run's budget shared by the pairs in flight."""
    from segcli.pipeline import default_workers, total_memory

    if max_memory is not None and max_memory <= 0:
        raise typer.BadParameter(f"expected > 0, got {max_memory}", param_hint="--max-memory")
    total = max_memory * 2**30 if max_memory is not None else (0.8 * total_memory() if total_memory() else None)
    return None if total is None else total / (workers or default_workers())


def _choose_format(fmt, output: Path | None) -> str:
    if fmt is not None:
        return fmt.value
    if output is not None:
        suffix = output.suffix.lower().lstrip(".")
        return suffix if suffix in ("csv", "tsv", "json", "jsonl") else "csv"
    return "table" if sys.stdout.isatty() else "csv"


@contextlib.contextmanager
def _open_output(output: Path | None, overwrite: bool):
    if output is None:
        yield sys.stdout
        return
    from segcli.io import atomic_path

    with atomic_path(output, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8", newline="") as stream:
        yield stream


def _settings_record(settings, device: str) -> dict:
    from dataclasses import asdict

    record = asdict(settings)
    record["device"] = device
    return record
