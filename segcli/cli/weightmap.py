"""``segcli weightmap MASKS --out DIR``: U-Net border-weight maps, signed-distance maps, and the
boundary / distance weight maps behind boundary_bce and distmap_bce, as float32 TIFF."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._output import fail, library_errors, parse_floats, progress, warn


class MapKindChoice(str, Enum):
    unet = "unet"
    sdf = "sdf"
    boundary = "boundary"
    distance = "distance"


def weightmap(
    masks: Annotated[Path, typer.Argument(help="Mask, label or instance image, or a directory of them (recursive).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory; relative paths are mirrored.")],
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
        str | None, typer.Option(help="Voxel spacing in array axis order [default: from TIFF metadata, else 1].")
    ] = None,
    preview: Annotated[bool, typer.Option(help="Also write a colour-mapped PNG beside each map.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    skip_existing: Annotated[
        bool, typer.Option(help="Leave existing outputs as they are (resume an interrupted run).")
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Parallel worker processes [default: all cores].")] = None,
    fail_fast: Annotated[bool, typer.Option(help="Stop at the first file that cannot be processed.")] = False,
) -> None:
    """Write one float32 TIFF weight or distance map per input image."""
    from segcli.errors import UsageError
    from segcli.map_writer import MapJob, MapSettings, run_map_jobs

    with library_errors():
        if connectivity not in (1, 2):
            raise typer.BadParameter(f"expected 1 or 2, got {connectivity}", param_hint="--connectivity")
        if sigma <= 0:
            raise typer.BadParameter(f"expected > 0, got {sigma}", param_hint="--sigma")
        if overwrite and skip_existing:
            raise UsageError("--overwrite and --skip-existing contradict each other")
        settings = MapSettings(
            kind=kind.value,
            w0=w0,
            sigma=sigma,
            class_weights=_class_weights(wc, wc_scheme),
            connectivity=connectivity,
            spacing=parse_floats(spacing, "--spacing"),
            preview=preview,
            overwrite=overwrite,
            skip_existing=skip_existing,
        )
        jobs = MapJob.for_inputs(masks, out)
        failures = 0
        written = skipped = 0
        with progress(len(jobs), f"{kind.value} maps") as advance:
            for result in run_map_jobs(jobs, settings, workers=workers, on_done=advance):
                for message in result.warnings:
                    warn(message)
                if result.error:
                    failures += 1
                    warn(f"not written: {result.error}")
                    if fail_fast:
                        break
                elif result.skipped:
                    skipped += 1
                else:
                    written += 1
        typer.echo(
            f"segcli: {written} map(s) written to {out}" + (f", {skipped} existing skipped" if skipped else ""),
            err=True,
        )
        if failures:
            fail(f"{failures} of {len(jobs)} file(s) could not be processed", 1)


def _class_weights(wc: str, scheme: str):
    if wc in ("uniform", "balanced"):
        return wc
    from segcli.multiclass import load_class_weights

    return load_class_weights(wc, scheme, 2)
