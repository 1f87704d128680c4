"""``segcli score``'s steps, in order: the inputs, the settings (``build_settings``, the library's
one builder and checker), the outputs, the pairs, the run, and writing it. Each step takes the
command's values by option name (``ctx.params``); every check of a value is the library's."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import typer

from segcli.cli._output import cap_workers, info, parse_floats, spell, warn
from segcli.cli._score_checks import (
    check_objects_out,
    check_output,
    check_report,
    choose_format,
    file_option,
    memory_budget,
    never_over_inputs,
    refuse_an_input,
    say_format_mismatch,
    settings_record,
    staple_or_note,
    warn_about_settings,
    with_raters,
)
from segcli.errors import OutputExistsError
from segcli.settings import SCORE_PARAMETERS, default

# The options of the settings (the rest say where outputs go and how the run runs).
SETTINGS_OPTIONS = (
    "labels", "class_names", "ignore_index", "pred_kind", "objects", "class_weights", "class_weight_scheme",
    *SCORE_PARAMETERS, "combine", "threshold", "thresholds", "spacing_unit", "include_background", "ignore_geometry",
    "iou_threshold", "connectivity",
)  # fmt: skip


# Options whose typer default is None, so that giving their default value is still said.
NONE_UNLESS_GIVEN = ("threshold", "ignore_index")


@dataclass
class Targets:
    """Where the run writes: --output, --report, --objects-out (each checked before any work)."""

    output: Path | None
    report: Path | None = None
    objects: Path | None = None


def given(values: dict, command: str | None = None) -> dict:
    """The options given away from their default (of ``command``; enums by value), as the settings name them."""
    from segcli.settings import OPTIONS

    plain = {name: getattr(value, "value", value) for name, value in values.items()}
    return {
        name: value
        for name, value in plain.items()
        if value is not None
        and value is not False
        and (name not in OPTIONS or name in NONE_UNLESS_GIVEN or value != default(name, command))
    }


def inputs(values: dict):
    from segcli.inputs.remote import as_input

    pred, gt = as_input(values["pred"], name="PRED"), as_input(values["gt"], name="GT")  # a path, or a URL
    rater = values["rater"]
    rater = [as_input(root, name="--rater") for root in rater] if rater else rater
    if values["scheduler"]:
        from segcli.run.cluster import check_address

        check_address(values["scheduler"])  # a malformed address: refused before any work
    from segcli.run.build import check_run_options

    check_run_options(workers=values["workers"], ci=values["ci"], bootstrap=values["bootstrap"], seed=values["seed"])
    if values["resume"] and values["output"] is None:
        raise typer.BadParameter(
            "needs --output FILE (a run written to stdout cannot be resumed)", param_hint="--resume"
        )
    return pred, gt, rater


def settings(values: dict, pred, gt):
    """The run's settings from the library's one builder; the options that do nothing, said."""
    from segcli.run.build import build_settings
    from segcli.scores.table import options_read
    from segcli.settings.unused import unused_options

    named = {name: getattr(values[name], "value", values[name]) for name in SETTINGS_OPTIONS}
    if named["ignore_index"] is None:
        del named["ignore_index"]  # not given: the default, and no binary-mode warning
    named["spacing"] = parse_floats(values["spacing"], "--spacing")
    named["object_rows"] = values["objects_out"] is not None
    built = build_settings(values["metrics"], num_classes=values["num_classes"], rater=values["rater"], **named)
    reads = options_read(multiclass=built.num_classes is not None)
    for message in unused_options(given(values), built, reads):
        warn(spell(message))
    warn_about_settings(built, pred, gt)
    return built


def outputs(values: dict, settings, pred, gt) -> Targets:
    output, overwrite, resume = values["output"], values["overwrite"], values["resume"]
    try:
        target = check_output(output, overwrite, resume)
    except OutputExistsError:  # "pass --overwrite" would be wrong advice for an input file
        refuse_an_input(output, pred, gt, pred_suffix=values["pred_suffix"], gt_suffix=values["gt_suffix"])
        raise
    chosen = [m for m in settings.metrics if m != "combined"]
    report = check_report(
        values["report"], output, overwrite or resume, values["report_sort"], chosen, settings.num_classes,
        values["images"],
    )  # fmt: skip
    return Targets(target, report)


def pairs(values: dict, settings, pred, gt, rater, targets: Targets):
    """The pairs (and their rater files), every output checked against every input."""
    from segcli.inputs.pairing import pair_files
    from segcli.run.device import resolve_device

    values["resolved_device"] = resolve_device(values["device"])
    if values["resolved_device"] != "cpu" and settings.num_classes is not None:
        warn("multi-class scores run on the CPU; --device applies to binary scoring")
    missing = values["missing"]
    pairing = pair_files(pred, gt, pred_suffix=values["pred_suffix"], gt_suffix=values["gt_suffix"],
                         missing=missing.value)  # fmt: skip
    _say_unmatched(pairing, missing.value)
    if rater:
        pairing = with_raters(pairing, rater, values["gt_suffix"])
        settings = replace(settings, staple=staple_or_note())
    output, overwrite, resume = values["output"], values["overwrite"], values["resume"]
    targets.objects = check_objects_out(values["objects_out"], output, overwrite or resume)
    never_over_inputs(
        pairing.pairs,
        {"--output": targets.output, "--report": targets.report, "--objects-out": targets.objects},
        extra=[values["labels"], file_option(values["class_weights"])],
        inside=[values["images"]],
    )
    say_format_mismatch(output, values["fmt"])
    return pairing, settings


def _say_unmatched(pairing, missing: str) -> None:
    for path in pairing.unmatched_pred:
        warn(f"{path}: prediction without ground truth, skipped")
    if missing == "skip":
        for path in pairing.unmatched_gt:
            warn(f"{path}: ground truth without prediction, skipped")
    if missing == "empty":
        empty = [pair.name for pair in pairing.pairs if pair.pred is None]
        if empty:
            shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
            warn(f"{len(empty)} ground truth(s) without prediction scored against an empty one: {shown}")


def run(values: dict, settings, pairing, targets: Targets):
    """The run: where it scores (a cluster, local workers, a device), its columns and record."""
    from segcli.cli._score_run import ScoreRun

    stack = contextlib.ExitStack()
    client, workers, device = _where(values, settings, pairing, targets, stack)
    from segcli.engine.cpus import plan_cpus

    cpu_plan = None if client is not None else plan_cpus(len(pairing.pairs), workers)
    settings = replace(settings, max_memory=memory_budget(values["max_memory"], workers))
    record = settings_record(settings, device)
    if cpu_plan is not None:  # workers x threads, and the CPUs they were planned for
        record["cpu_plan"] = cpu_plan.record()
    ci = values["ci"]
    if ci is not None:
        record |= {"ci": ci, "bootstrap": values["bootstrap"], "seed": values["seed"]}
    scored = ScoreRun(
        pairs=pairing.pairs,
        settings=settings,
        columns=_columns(settings, values["rater"]),
        fmt=choose_format(values["fmt"], values["output"]),
        record=record,
        interval=(ci, values["bootstrap"], values["seed"]) if ci is not None else None,
        client=client,
        workers=workers,
        threads=cpu_plan.threads_per_worker if cpu_plan is not None else 1,
        device=device,
        fail_fast=values["fail_fast"],
    )
    scored.stack = stack
    return scored


def _where(values: dict, settings, pairing, targets: Targets, stack):
    """(client, workers, device): a Dask cluster's, or the local workers and the device auto picks."""
    scheduler, device = values["scheduler"], values["resolved_device"]
    if scheduler:
        from segcli.run.cluster import connect, threads_per_worker

        client = stack.enter_context(connect(scheduler))
        info(f"scoring on the Dask cluster at {scheduler} ({len(client.nthreads())} worker(s))")
        if device != "cpu":
            warn("--device applies to local runs; the cluster scores on its workers' CPUs")
        return client, threads_per_worker(client), "cpu"  # pairs one worker's memory is shared by
    from segcli.results.journal import journal_path
    from segcli.run.pipeline import default_workers

    workers = cap_workers(values["workers"], len(pairing.pairs), default_workers(), "pair")
    if values["device"] == "auto":  # the rule of segcli.run.device; never imports torch without a GPU
        from segcli.run.device import auto_device

        device = auto_device(
            settings.metrics,
            [pair.gt for pair in pairing.pairs if isinstance(pair.gt, Path)],  # URLs: the CPU
            workers=workers,
            device_path=settings.num_classes is None and settings.thresholds is None and not values["rater"],
            journal=journal_path(targets.output) if values["resume"] and targets.output is not None else None,
        )
    return None, workers, device


def _columns(settings, rater) -> list[str]:
    if settings.num_classes is not None:
        from segcli.run import per_class

        return per_class.columns(settings)
    if settings.thresholds is not None:
        from segcli.run.pair import threshold_suffix

        return [f"{m}{threshold_suffix(t)}" for t in settings.thresholds for m in settings.metrics]
    extra = []
    if rater:
        from segcli.run.raters import rater_columns

        extra = rater_columns(settings.metrics, len(rater) + 1, staple=settings.staple)
    return list(settings.metrics) + extra + list(settings.object_metrics)


def execute(scored, values: dict, targets: Targets, *, inputs) -> None:
    """Score, write the output (a stream or a file), the objects CSV and the report."""
    from segcli.results.outputs import is_stream_target

    target = targets.output
    with scored.stack:
        if targets.report is not None:
            from segcli.results.outputs import OutputLock

            scored.stack.enter_context(OutputLock(targets.report))
        if target is None or is_stream_target(target):
            scored.to_stream(sys.stdout if target is None else target)
        else:
            scored.to_file(target, resume=values["resume"], overwrite=values["overwrite"])
        if targets.objects is not None:
            from segcli.cli._score_run import write_objects_out

            write_objects_out(scored, targets.objects)
        if targets.report is not None:
            _write_report(scored, values, targets.report, inputs)


def _write_report(scored, values: dict, report: Path, inputs) -> None:
    from segcli.cli.report import write_report

    chosen = [m for m in scored.settings.metrics if m != "combined"]
    sort_by = values["report_sort"] or ("dice" if "dice" in chosen else (chosen or ["obj_f1"])[0])
    results = scored.results()
    if scored.complete is not None:  # the records are in the finished output, not in memory
        if scored.fmt != "jsonl":
            from segcli.errors import UsageError

            raise UsageError(
                f"--report: {scored.complete} is complete and a {scored.fmt} output cannot rebuild the "
                "report; write runs as jsonl, or score again with --overwrite"
            )
        from segcli.results.read_back import RunResults

        results = RunResults.from_jsonl(scored.complete)
    write_report(results, report, sort_by=sort_by, images=values["images"], inputs=inputs)
