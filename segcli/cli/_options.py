"""The options every command shares, as ``Annotated`` aliases built from ``segcli.settings``: each
option's help is written once there (``help_text``) and each default too (``default``), so a
command's signature reads ``threshold: ThresholdOpt = None`` and nothing else. Options whose help
differs by command have one alias per command (``MapSigmaOpt`` for weightmap). Only typer and the
settings table are imported: ``segcli --help`` imports neither numpy nor torch.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import local_input, local_output_file, output_or_stdout
from segcli.settings import help_text

LOSS_PANEL = "Loss parameters"
MC_PANEL = "Multi-class"
OBJECTS_PANEL = "Objects"
REPORT_PANEL = "Report"


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


class MapKindChoice(str, Enum):
    unet = "unet"
    sdf = "sdf"
    boundary = "boundary"
    distance = "distance"


class Missing(str, Enum):
    error = "error"
    skip = "skip"
    empty = "empty"


def option(name: str, *flags: str, command: str | None = None, **settings) -> typer.models.OptionInfo:
    """The typer option of setting ``name``, its help from the settings table; ``.setting`` names
    it (a test checks that each command's parameter is called by that name)."""
    info = typer.Option(*flags, help=help_text(name, command), **settings)
    info.setting = name
    return info


def _loss(name: str) -> typer.models.OptionInfo:
    return option(name, rich_help_panel=LOSS_PANEL)


SCORE_PANEL = "Score parameters"


def with_score_parameters(command):
    """``command`` with a typer option for every score parameter of the settings table that its
    signature does not write out (``Option(score=True)``: a new score's option is its table row
    alone); typer reads the signature, and the values arrive in the command's ``**parameters``."""
    import inspect

    from segcli.settings import OPTIONS, default

    signature = inspect.signature(command, eval_str=True)  # typer reads the annotations from it
    written = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    added = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default(name),
            annotation=Annotated[float, option(name, rich_help_panel=SCORE_PANEL)],
        )
        for name, spec in OPTIONS.items()
        if spec.score and name not in signature.parameters
    ]
    command.__signature__ = signature.replace(parameters=written + added)
    return command


def _mc(name: str, **settings) -> typer.models.OptionInfo:
    return option(name, rich_help_panel=MC_PANEL, **settings)


# what to score and how to read it
MetricsOpt = Annotated[str, option("metrics")]
PredKindOpt = Annotated[PredKindChoice, option("pred_kind")]
ThresholdOpt = Annotated[float | None, option("threshold")]  # None: not given (--thresholds may be)
ThresholdsOpt = Annotated[str | None, option("thresholds")]
SpacingOpt = Annotated[str | None, option("spacing")]
SpacingUnitOpt = Annotated[str | None, option("spacing_unit")]
IgnoreGeometryOpt = Annotated[bool, option("ignore_geometry")]
EmptyDistanceOpt = Annotated[str, option("empty_distance")]
NsdToleranceOpt = Annotated[float, option("nsd_tolerance")]
# pairing the files
PredSuffixOpt = Annotated[str, option("pred_suffix")]
GtSuffixOpt = Annotated[str, option("gt_suffix")]
MissingOpt = Annotated[Missing, option("missing")]
# multi-class
NumClassesOpt = Annotated[int | None, _mc("num_classes")]
IgnoreIndexOpt = Annotated[int | None, _mc("ignore_index")]  # None: not given (said in binary mode)
IncludeBackgroundOpt = Annotated[bool, _mc("include_background")]
ClassNamesOpt = Annotated[str | None, _mc("class_names")]
LabelsOpt = Annotated[Path | None, _mc("labels", parser=local_input)]
ClassWeightsOpt = Annotated[str | None, _mc("class_weights")]
ClassWeightSchemeOpt = Annotated[str, _mc("class_weight_scheme")]
# loss parameters
FocalAlphaOpt = Annotated[float, _loss("focal_alpha")]
FocalGammaOpt = Annotated[float, _loss("focal_gamma")]
TverskyAlphaOpt = Annotated[float, _loss("tversky_alpha")]
TverskyBetaOpt = Annotated[float, _loss("tversky_beta")]
FocalTverskyGammaOpt = Annotated[float, _loss("focal_tversky_gamma")]
PosWeightOpt = Annotated[float | None, _loss("pos_weight")]
W0Opt = Annotated[float, _loss("w0")]
SigmaOpt = Annotated[float, _loss("sigma")]
SmoothOpt = Annotated[float, _loss("smooth")]
DiceGammaOpt = Annotated[float, _loss("dice_gamma")]
CombineOpt = Annotated[str | None, _loss("combine")]
# object scores
ObjectsOpt = Annotated[ObjectMode | None, option("objects", rich_help_panel=OBJECTS_PANEL)]
IouThresholdOpt = Annotated[float, option("iou_threshold", rich_help_panel=OBJECTS_PANEL)]
ConnectivityOpt = Annotated[int | None, option("connectivity", rich_help_panel=OBJECTS_PANEL)]
ObjectsOutOpt = Annotated[
    Path | None,
    typer.Option(
        parser=local_output_file,
        help="A CSV with every GT and predicted object (matched/missed/false/split/merged).",
        rich_help_panel=OBJECTS_PANEL,
    ),
]
# the summary's interval
CiOpt = Annotated[float | None, option("ci")]
BootstrapOpt = Annotated[int, option("bootstrap")]
SeedOpt = Annotated[int, option("seed")]
# how a run runs
WorkersOpt = Annotated[int | None, option("workers")]
ReaderWorkersOpt = Annotated[int | None, option("workers", command="classweights")]
CompareWorkersOpt = Annotated[int | None, option("workers", command="compare")]
DeviceOpt = Annotated[str, option("device")]
SchedulerOpt = Annotated[str | None, option("scheduler", envvar="DASK_SCHEDULER_ADDRESS")]
MaxMemoryOpt = Annotated[float | None, option("max_memory")]
FailFastOpt = Annotated[bool, option("fail_fast")]
# weightmap's own spelling of the shared options
MapKindOpt = Annotated[MapKindChoice, option("kind")]
MapFailFastOpt = Annotated[bool, option("fail_fast", command="weightmap")]
MapW0Opt = Annotated[float, option("w0", command="weightmap")]
MapSigmaOpt = Annotated[float, option("sigma", command="weightmap")]
MapClassWeightsOpt = Annotated[str, option("class_weights", "--wc", command="weightmap")]
MapClassWeightSchemeOpt = Annotated[str, option("class_weight_scheme", "--wc-scheme", command="weightmap")]
MapConnectivityOpt = Annotated[int, option("connectivity", command="weightmap")]
MapSpacingOpt = Annotated[str | None, option("spacing", command="weightmap")]
MapDeviceOpt = Annotated[str, option("device", command="weightmap")]
MapSchedulerOpt = Annotated[str | None, option("scheduler", command="weightmap", envvar="DASK_SCHEDULER_ADDRESS")]
# classweights' own spelling of the shared options (no Multi-class panel: every option is one)
WeightsNumClassesOpt = Annotated[int | None, option("num_classes", command="classweights")]
WeightsIgnoreIndexOpt = Annotated[int | None, option("ignore_index", command="classweights")]  # None: not given
SchemeOpt = Annotated[str, option("scheme")]
BetaOpt = Annotated[float, option("beta")]
WeightsSchedulerOpt = Annotated[
    str | None, option("scheduler", command="classweights", envvar="DASK_SCHEDULER_ADDRESS")
]
# compare's
ScoresOpt = Annotated[str | None, option("scores", "--metrics", command="compare")]
# outputs
OverwriteOpt = Annotated[bool, typer.Option(help="Replace an existing --output file.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        parser=output_or_stdout,
        help="Write the report here (atomically) instead of stdout (- is stdout).",
    ),
]
