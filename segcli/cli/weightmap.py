"""``segcli weightmap MASKS --out DIR``: U-Net border-weight maps, signed-distance maps, and the
boundary / distance weight maps behind boundary_bce and distmap_bce, as float32 TIFF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import local_output
from segcli.cli._options import (
    MapClassWeightSchemeOpt,
    MapClassWeightsOpt,
    MapConnectivityOpt,
    MapDeviceOpt,
    MapFailFastOpt,
    MapKindChoice,
    MapKindOpt,
    MapSchedulerOpt,
    MapSigmaOpt,
    MapSpacingOpt,
    MapW0Opt,
    WorkersOpt,
)
from segcli.cli._output import library_errors, parse_floats
from segcli.settings import default


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
    kind: MapKindOpt = MapKindChoice(default("kind")),
    w0: MapW0Opt = default("w0"),
    sigma: MapSigmaOpt = default("sigma"),
    class_weights: MapClassWeightsOpt = default("class_weights", "weightmap"),
    class_weight_scheme: MapClassWeightSchemeOpt = default("class_weight_scheme"),
    connectivity: MapConnectivityOpt = default("connectivity", "weightmap"),
    spacing: MapSpacingOpt = default("spacing"),
    preview: Annotated[bool, typer.Option(help="Also write a colour-mapped PNG beside each map.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    skip_existing: Annotated[
        bool, typer.Option(help="Leave existing outputs as they are (resume an interrupted run).")
    ] = False,
    workers: WorkersOpt = default("workers"),
    device: MapDeviceOpt = default("device"),
    fail_fast: MapFailFastOpt = default("fail_fast"),
    scheduler: MapSchedulerOpt = default("scheduler"),
) -> None:
    """Write one float32 TIFF weight or distance map per input image.

    ``--out`` may not be MASKS or inside it; it is checked before any work and locked for the run.
    """
    values = dict(locals())
    from segcli.cli import _weightmap_plan as plan
    from segcli.results.outputs import check_output_dir
    from segcli.weightmaps import MapJob

    values["spacing"] = parse_floats(spacing, "--spacing")  # a usage error of its own (click's)
    with library_errors(plan.COMMAND):
        masks, settings = plan.plan(values)
        check_output_dir(out)
        jobs = MapJob.for_inputs(masks, out)
        plan.write_maps(jobs, settings, values)
