"""``segcli weightmap MASKS --out DIR``: U-Net border-weight maps, signed-distance maps, and the
boundary / distance weight maps behind boundary_bce and distmap_bce, as float32 TIFF."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import local_output
from segcli.cli._output import cap_workers, fail, flag_of, info, library_errors, parse_floats, progress, state, warn
from segcli.display import printable_lines


class MapKindChoice(str, Enum):
    unet = "unet"
    sdf = "sdf"
    boundary = "boundary"
    distance = "distance"


def weightmap(
    masks: Annotated[
        str,
        typer.Argument(
            help="Mask, label or instance image, or a directory of them (recursive); a path or an fsspec URL."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", parser=local_output, help="Output directory; relative paths are mirrored.")
    ],
    kind: Annotated[
        MapKindChoice,
        typer.Option(help="unet weight map, sdf (Kervadec signed distance), boundary or distance weights."),
    ] = MapKindChoice.unet,
    w0: Annotated[float, typer.Option(help="U-Net border weight w0.")] = 10.0,
    sigma: Annotated[float, typer.Option(help="U-Net border width sigma, in spacing units.")] = 5.0,
    wc: Annotated[
        str,
        typer.Option(
            help="U-Net class term: uniform, balanced (per image), a comma list 'w_bg,w_fg', or a classweights JSON."
        ),
    ] = "uniform",
    wc_scheme: Annotated[str, typer.Option(help="Scheme to take from a --wc JSON.")] = "inverse",
    connectivity: Annotated[
        int, typer.Option(help="Connected components of binary masks: 1 = 4/6-neighbours, 2 = 8/26.")
    ] = 1,
    spacing: Annotated[
        str | None, typer.Option(help="Voxel spacing in array axis order \\[default: from TIFF metadata, else 1].")
    ] = None,
    preview: Annotated[bool, typer.Option(help="Also write a colour-mapped PNG beside each map.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    skip_existing: Annotated[
        bool, typer.Option(help="Leave existing outputs as they are (resume an interrupted run).")
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Parallel worker processes \\[default: all cores].")] = None,
    device: Annotated[
        str,
        typer.Option(
            help="Where the sdf, boundary and distance maps are computed: auto (the CPU), cpu, cuda or cuda:N "
            "(the same exact transforms on the GPU, one file at a time; unet maps stay on the CPU; needs segcli[gpu])."
        ),
    ] = "auto",
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first file that cannot be processed.")] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Compute and write the maps on a Dask cluster (tcp://host:8786) whose workers see --out "
            "(needs segcli[dask]).",
        ),
    ] = None,
) -> None:
    """Write one float32 TIFF weight or distance map per input image.

    ``--out`` may not be MASKS or inside it; it is checked before any work and locked for the run.
    """
    from segcli.engine.maps import check_unet_options
    from segcli.errors import OutputError, UsageError
    from segcli.inputs.remote import as_input
    from segcli.results.outputs import OutputLock, check_output_dir
    from segcli.run.pipeline import default_workers
    from segcli.weightmaps import MapJob, MapSettings, run_map_jobs

    spacing_values = parse_floats(spacing, "--spacing")  # a usage error of its own (click's)
    with library_errors():
        masks = as_input(masks, name="MASKS")  # a path, or an fsspec URL
        if scheduler:
            from segcli.run.cluster import check_address

            check_address(scheduler)  # a malformed address: refused before any work
        if connectivity not in (1, 2):
            raise UsageError(f"--connectivity: expected 1 or 2, got {connectivity}")
        class_weights = _class_weights(wc, wc_scheme)
        vector = None if isinstance(class_weights, str) else class_weights
        try:
            check_unet_options(w0=w0, sigma=sigma, class_weights=vector)
        except ValueError as exc:  # the library names the argument: w0, sigma or class_weights
            name, _, reason = str(exc).partition(":")
            raise UsageError(f"--{'wc' if name == 'class_weights' else name}:{reason}") from None
        if workers is not None and workers < 1:
            raise UsageError(f"--workers: expected >= 1, got {workers}")
        if overwrite and skip_existing:
            raise UsageError("--overwrite and --skip-existing contradict each other")
        _refuse_out_in_masks(masks, out)
        from segcli.run.device import resolve_device

        torch_device = resolve_device(device)  # auto: the CPU; cuda asked for but absent: a usage error
        if torch_device != "cpu" and kind is MapKindChoice.unet:
            warn("--device: unet maps (a transform per instance) are computed on the CPU")
        if wc_scheme != "inverse" and not Path(wc).is_file():
            warn("--wc-scheme picks from a --wc JSON file; without one it does nothing")
        if kind is not MapKindChoice.unet:
            unet_only = (("--w0", w0, 10.0), ("--sigma", sigma, 5.0), ("--wc", wc, "uniform"))
            given = unet_only + (("--connectivity", connectivity, 1),)
            unused = [flag for flag, value, default in given if value != default]
            if unused:
                warn(f"{', '.join(unused)}: --kind unet options; --kind {kind.value} does not use them")
        settings = MapSettings(
            kind=kind.value,
            w0=w0,
            sigma=sigma,
            class_weights=class_weights,
            connectivity=connectivity,
            spacing=spacing_values,
            preview=preview,
            overwrite=overwrite,
            skip_existing=skip_existing,
            device=None if torch_device == "cpu" or kind is MapKindChoice.unet else torch_device,
        )
        check_output_dir(out)
        jobs = MapJob.for_inputs(masks, out)
        stack = contextlib.ExitStack()
        client = None
        if scheduler:
            from segcli.run.cluster import connect

            if workers is not None:
                warn("--workers applies to local runs; the cluster's workers compute the maps")
            if settings.device is not None:
                warn("--device applies to local runs; the cluster's workers compute the maps on their CPUs")
                settings = replace(settings, device=None)
            client = stack.enter_context(connect(scheduler, modules=("segcli.weightmaps",)))
            info(f"writing maps on the Dask cluster at {scheduler} ({len(client.nthreads())} worker(s))")
            workers = 1
        else:
            workers = cap_workers(workers, len(jobs), default_workers())
        failures = 0
        written = skipped = 0
        with (
            stack,
            OutputLock(out),
            progress(len(jobs), f"{kind.value} maps") as advance,
            # closed before the lock is released: no new task starts once the run has ended
            contextlib.closing(
                run_map_jobs(jobs, settings, workers=workers, on_done=advance, client=client)
            ) as results,
        ):
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
        info(f"{written} map(s) written to {out}" + (f", {skipped} existing skipped" if skipped else ""))
        if failures:
            fail(f"{failures} of {len(jobs)} file(s) could not be processed", 1)


def _refuse_out_in_masks(masks, out: Path) -> None:
    """Outputs must never be read back as inputs: --out may not be MASKS or lie inside it (a
    remote URL never holds a local output)."""
    from segcli.errors import UsageError
    from segcli.inputs.remote import local_path

    local = local_path(masks)
    if local is None:
        return
    masks_real, out_real = local.resolve(), out.resolve()
    if out_real == masks_real or out_real.is_relative_to(masks_real):
        where = "the input directory" if out_real == masks_real else f"inside the input directory {masks}"
        raise UsageError(f"--out {out}: is {where}; outputs must never be read back as inputs")


def _class_weights(wc: str, scheme: str) -> str | tuple[float, ...]:
    """uniform, balanced, or (w_bg, w_fg) from a comma list or a classweights JSON, each finite >= 0."""
    from segcli.engine.maps import check_class_weights
    from segcli.errors import UsageError
    from segcli.run.per_class import load_class_weights

    if wc in ("uniform", "balanced"):
        return wc
    try:
        weights = load_class_weights(wc, scheme, 2)
    except UsageError as exc:
        # load_class_weights is shared with score, whose option it names.
        message = exc.spelled(flag_of("weightmap"))  # --class-weights is weightmap's --wc
        raise UsageError(message.replace("--num-classes 2", "2 classes")) from None
    try:
        return tuple(check_class_weights(weights).tolist())
    except ValueError:
        raise UsageError(f"--wc: expected two finite weights >= 0 (background, foreground), got {wc!r}") from None
