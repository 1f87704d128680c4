"""``segcli score PRED GT``: every loss and overlap/surface score, per image and summarised."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import local_input, local_output_file
from segcli.cli._options import (
    BootstrapOpt,
    CiOpt,
    ClassNamesOpt,
    ClassWeightSchemeOpt,
    ClassWeightsOpt,
    CombineOpt,
    ConnectivityOpt,
    DeviceOpt,
    DiceGammaOpt,
    EmptyDistanceOpt,
    FailFastOpt,
    FocalAlphaOpt,
    FocalGammaOpt,
    FocalTverskyGammaOpt,
    GtSuffixOpt,
    IgnoreGeometryOpt,
    IgnoreIndexOpt,
    IncludeBackgroundOpt,
    IouThresholdOpt,
    LabelsOpt,
    MaxMemoryOpt,
    MetricsOpt,
    Missing,
    MissingOpt,
    NsdToleranceOpt,
    NumClassesOpt,
    ObjectsOpt,
    ObjectsOutOpt,
    OutputFormat,
    OutputOpt,
    OverwriteOpt,
    PosWeightOpt,
    PredKindChoice,
    PredKindOpt,
    PredSuffixOpt,
    SchedulerOpt,
    SeedOpt,
    SigmaOpt,
    SmoothOpt,
    SpacingOpt,
    SpacingUnitOpt,
    ThresholdOpt,
    ThresholdsOpt,
    TverskyAlphaOpt,
    TverskyBetaOpt,
    W0Opt,
    WorkersOpt,
    with_score_parameters,
)
from segcli.cli._output import fail, library_errors, option_errors
from segcli.settings import default

__all__ = ["OutputFormat", "score"]

REPORT_PANEL = "Report"


@with_score_parameters
def score(
    pred: Annotated[
        str, typer.Argument(help="Prediction file or directory (searched recursively), or an fsspec URL (s3://...).")
    ],
    gt: Annotated[str, typer.Argument(help="Ground-truth file or directory (searched recursively), or an fsspec URL.")],
    metrics: MetricsOpt = default("metrics"),
    fmt: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format", help="Output format \\[default: table on a terminal, else csv; from --output's extension]."
        ),
    ] = None,
    output: OutputOpt = None,
    overwrite: OverwriteOpt = False,
    report: Annotated[
        Path | None,
        typer.Option(
            parser=local_output_file,
            help="Also write a self-contained HTML report here (plots, worst cases, failures).",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    report_sort: Annotated[
        str | None,
        typer.Option(
            help="Score that ranks the report's worst cases \\[default: dice, else the first score].",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            parser=local_input,
            help="Images shown under the report's contours, matched like PRED.",
            rich_help_panel=REPORT_PANEL,
        ),
    ] = None,
    empty_distance: EmptyDistanceOpt = default("empty_distance"),
    ci: CiOpt = default("ci"),
    bootstrap: BootstrapOpt = default("bootstrap"),
    seed: SeedOpt = default("seed"),
    resume: Annotated[
        bool,
        typer.Option(help="Finish an interrupted run: score only the pairs missing from --output's partial file."),
    ] = False,
    pred_kind: PredKindOpt = PredKindChoice(default("pred_kind")),
    threshold: ThresholdOpt = None,
    rater: Annotated[
        list[str] | None,
        typer.Option(
            help="Another rater's ground truth (a directory matched like GT; repeatable): adds rater<k>., "
            "majority., staple. and interrater. columns (binary mode).",
        ),
    ] = None,
    objects: ObjectsOpt = default("objects"),
    iou_threshold: IouThresholdOpt = default("iou_threshold"),
    connectivity: ConnectivityOpt = default("connectivity"),
    objects_out: ObjectsOutOpt = None,
    thresholds: ThresholdsOpt = default("thresholds"),
    spacing_unit: SpacingUnitOpt = default("spacing_unit"),
    spacing: SpacingOpt = default("spacing"),
    ignore_geometry: IgnoreGeometryOpt = default("ignore_geometry"),
    nsd_tolerance: NsdToleranceOpt = default("nsd_tolerance"),
    device: DeviceOpt = default("device"),
    workers: WorkersOpt = default("workers"),
    scheduler: SchedulerOpt = default("scheduler"),
    pred_suffix: PredSuffixOpt = default("pred_suffix"),
    gt_suffix: GtSuffixOpt = default("gt_suffix"),
    missing: MissingOpt = Missing(default("missing")),
    fail_fast: FailFastOpt = default("fail_fast"),
    max_memory: MaxMemoryOpt = default("max_memory"),
    num_classes: NumClassesOpt = default("num_classes"),
    ignore_index: IgnoreIndexOpt = None,
    include_background: IncludeBackgroundOpt = default("include_background"),
    class_names: ClassNamesOpt = default("class_names"),
    labels: LabelsOpt = default("labels"),
    class_weights: ClassWeightsOpt = default("class_weights"),
    class_weight_scheme: ClassWeightSchemeOpt = default("class_weight_scheme"),
    focal_alpha: FocalAlphaOpt = default("focal_alpha"),
    focal_gamma: FocalGammaOpt = default("focal_gamma"),
    tversky_alpha: TverskyAlphaOpt = default("tversky_alpha"),
    tversky_beta: TverskyBetaOpt = default("tversky_beta"),
    focal_tversky_gamma: FocalTverskyGammaOpt = default("focal_tversky_gamma"),
    pos_weight: PosWeightOpt = default("pos_weight"),
    w0: W0Opt = default("w0"),
    sigma: SigmaOpt = default("sigma"),
    smooth: SmoothOpt = default("smooth"),
    dice_gamma: DiceGammaOpt = default("dice_gamma"),
    combine: CombineOpt = default("combine"),
    **parameters,  # the score parameters the signature does not write out (with_score_parameters)
) -> None:
    """Score predictions against ground truth: one record per pair, then a summary."""
    values = {k: v for k, v in locals().items() if k != "parameters"} | parameters  # every option by its name
    from segcli.cli import _score_plan as plan

    with library_errors(), option_errors():
        pred, gt, rater = plan.inputs(values)
        settings = plan.settings(values, pred, gt)
        targets = plan.outputs(values, settings, pred, gt)
        pairing, settings = plan.pairs(values, settings, pred, gt, rater, targets)
        run = plan.run(values, settings, pairing, targets)
        plan.execute(run, values, targets, inputs=(pred, gt))
        if run.failures:
            fail(f"{len(run.failures)} of {len(pairing.pairs)} pair(s) could not be scored", 1)
