"""The steps of ``segcli weightmap``: its options checked by the library and the ones that do
nothing said (``plan``), then the maps computed and each result reported (``write_maps``)."""

from __future__ import annotations

import contextlib

import typer

from segcli.cli._output import cap_workers, fail, info, progress, spell, warn
from segcli.cli._score_plan import given
from segcli.settings import OPTIONS

COMMAND = "weightmap"


def plan(values: dict):
    """The MapSettings of the run, every option checked before any work."""
    from segcli.inputs.remote import as_input
    from segcli.run.device import resolve_device
    from segcli.settings.unused import unused_options
    from segcli.weightmaps import MapSettings, check_map_options, check_out_dir

    masks = as_input(values["masks"], name="MASKS")  # a path, or an fsspec URL
    if values["scheduler"]:
        from segcli.run.cluster import check_address

        check_address(values["scheduler"])  # a malformed address: refused before any work
    names = ("w0", "sigma", "class_weights", "class_weight_scheme", "connectivity", "workers", "overwrite")
    class_weights = check_map_options(**{name: values[name] for name in names}, skip_existing=values["skip_existing"])
    check_out_dir(masks, values["out"])
    device = resolve_device(values["device"])  # auto: the CPU; cuda asked for but absent: a usage error
    options = {name: value for name, value in values.items() if name in OPTIONS}
    for message in unused_options(given({**options, "device": device}, COMMAND), command=COMMAND):
        warn(spell(message, COMMAND))
    kind = values["kind"].value
    settings = MapSettings(
        kind=kind,
        w0=values["w0"],
        sigma=values["sigma"],
        class_weights=class_weights,
        connectivity=values["connectivity"],
        spacing=values["spacing"],
        preview=values["preview"],
        overwrite=values["overwrite"],
        skip_existing=values["skip_existing"],
        device=None if device == "cpu" or kind == "unet" or values["scheduler"] else device,
    )
    return masks, settings


def write_maps(jobs: list, settings, values: dict) -> None:
    """Compute and write every job's map (here, or on the cluster), each failure said; exit 1 if any."""
    from segcli.results.outputs import OutputLock
    from segcli.run.pipeline import default_workers
    from segcli.weightmaps import run_map_jobs

    out, scheduler, workers = values["out"], values["scheduler"], values["workers"]
    stack = contextlib.ExitStack()
    client = None
    if scheduler:
        from segcli.run.cluster import connect

        client = stack.enter_context(connect(scheduler, modules=("segcli.weightmaps",)))
        info(f"writing maps on the Dask cluster at {scheduler} ({len(client.nthreads())} worker(s))")
        workers = 1
    else:
        workers = cap_workers(workers, len(jobs), default_workers())
    with (
        stack,
        OutputLock(out),
        progress(len(jobs), f"{settings.kind} maps") as advance,
        # closed before the lock is released: no new task starts once the run has ended
        contextlib.closing(run_map_jobs(jobs, settings, workers=workers, on_done=advance, client=client)) as results,
    ):
        written, skipped, failures = _report(results, values["fail_fast"])
    info(f"{written} map(s) written to {out}" + (f", {skipped} existing skipped" if skipped else ""))
    if failures:
        fail(f"{failures} of {len(jobs)} file(s) could not be processed", 1)


def _report(results, fail_fast: bool) -> tuple[int, int, int]:
    """Each result's warnings and failure said; (written, skipped, failed)."""
    from segcli.cli._output import state
    from segcli.display import printable_lines
    from segcli.errors import OutputError

    written = skipped = failures = 0
    for result in results:
        for message in result.warnings:
            warn(message)
        if result.output_failed:
            raise OutputError(result.error)
        if result.error:
            failures += 1
            warn(f"not written: {result.error}")
            if state["debug"] and result.detail:
                typer.echo(printable_lines(result.detail), err=True, nl=False)
            if fail_fast:
                break
        elif result.skipped:
            skipped += 1
        else:
            written += 1
    return written, skipped, failures
