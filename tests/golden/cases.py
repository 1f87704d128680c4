"""The golden cases: every command of the CLI on small fixed inputs, and how outputs are normalised.

Each case is one or more ``segcli`` runs (``pre`` runs first, then ``args``) in a shared work
directory holding a copy of the repository's ``sample_data/`` and the synthetic data that
``make_inputs`` writes (numpy, fixed seed). Paths in the arguments are relative to that
directory; ``{out}`` stands for the case's own output folder (``out/<name>``, created empty
before the case runs). What a case yields (``run_case``): for every run its exit code, stdout
and stderr, then every file left under ``{out}`` (text files in full, others as sha256 and size),
normalised by ``normalise``.

``record.py`` writes ``expected/<name>.txt``; ``test_golden.py`` compares with them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected"

# Settings keys renamed on purpose after the golden files were recorded: {"old": "new"}, e.g.
# {"unet_w0": "w0"}. Every key of a JSON settings record (at any depth inside "settings"; also the
# HTML report's "setting: options.unet_w0" rows and compare's "used different settings: ..."
# warning) that is named here is read under its new name in the golden files before comparing.
RENAMED_SETTINGS: dict[str, str] = {
    "unet_w0": "w0",
    "unet_sigma": "sigma",
    "spacing_override": "spacing",
    "object_connectivity": "connectivity",
}

# The environment every run gets (on top of the caller's, minus what would change an output).
FIXED_ENV = {
    "COLUMNS": "120",
    "LINES": "50",
    "LC_ALL": "C.UTF-8",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "TERM": "dumb",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "MPLBACKEND": "Agg",
}
DROPPED_ENV = (
    "DASK_SCHEDULER_ADDRESS",
    "SEGCLI_SCHEDULER_TIMEOUT",
    "FORCE_COLOR",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "PYTHONWARNINGS",
    "PYTHONSTARTUP",
)

TEXT_SUFFIXES = {".csv", ".tsv", ".json", ".jsonl", ".txt", ".html"}


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    pre: tuple[tuple[str, ...], ...] = ()  # runs before ``args`` in the same {out}
    needs: tuple[str, ...] = ()  # modules without which the case is skipped
    stdin: str | None = None
    hash_only: tuple[str, ...] = field(default=())  # file suffixes stored as hashes even if text


def _c(name: str, *args: str, pre=(), needs=(), hash_only=()) -> Case:
    return Case(name, tuple(args), tuple(tuple(p) for p in pre), tuple(needs), hash_only=tuple(hash_only))


BIN = ("synth/bin/pred", "synth/bin/gt")
PROB = ("synth/prob/pred", "synth/bin/gt")
SAMPLE = ("sample_data/pred", "sample_data/gt")
MC = ("synth/mc/pred", "synth/mc/gt")
W1 = ("--workers", "1")

CASES: list[Case] = [
    # --- help and version -----------------------------------------------------------------
    _c("help_root", "--help"),
    _c("help_score", "score", "--help"),
    _c("help_weightmap", "weightmap", "--help"),
    _c("help_classweights", "classweights", "--help"),
    _c("help_compare", "compare", "--help"),
    _c("help_report", "report", "--help"),
    _c("help_metrics", "metrics", "--help"),
    _c("version", "--version"),
    _c("metrics", "metrics"),
    # --- score, binary ---------------------------------------------------------------------
    _c("score_sample_csv_all", "score", *SAMPLE, "--metrics", "all", *W1),
    _c("score_sample_json", "score", *SAMPLE, "--format", "json", *W1),
    _c("score_sample_table", "score", *SAMPLE, "--format", "table", "--metrics", "region,surface", *W1),
    _c("score_bin_csv_all", "score", *BIN, "--metrics", "all", "--format", "csv", *W1),
    _c("score_bin_tsv", "score", *BIN, "--metrics", "region", "--format", "tsv", *W1),
    _c("score_bin_jsonl", "score", *BIN, "--metrics", "dice,hd95,assd,bce", "--format", "jsonl", *W1),
    _c("score_bin_table_default_metrics", "score", *BIN, "--format", "table", *W1),
    _c("score_bin_two_workers", "score", *BIN, "--metrics", "all", "--format", "jsonl", "--workers", "2"),
    _c("score_bin_output_file_csv", "score", *BIN, "--metrics", "region,surface", "-o", "{out}/run.csv", *W1),
    _c("score_bin_output_file_json", "score", *BIN, "--metrics", "losses", "-o", "{out}/run.json", *W1),
    _c("score_prob_all_json", "score", *PROB, "--metrics", "all", "--format", "json", *W1),
    _c("score_prob_threshold_03", "score", *PROB, "--threshold", "0.3", "--metrics", "region", *W1),
    _c("score_prob_pred_kind_prob", "score", *PROB, "--pred-kind", "prob", "--metrics", "dice,bce", *W1),
    _c(
        "score_vol_spacing",
        "score",
        "synth/vol/pred",
        "synth/vol/gt",
        "--spacing",
        "2,0.5,0.5",
        "--spacing-unit",
        "mm",
        "--metrics",
        "surface",
        "--format",
        "json",
        *W1,
    ),
    _c(
        "score_vol_file_spacing",
        "score",
        "synth/vol/pred",
        "synth/vol/gt",
        "--metrics",
        "dice,hd,hd95,nsd",
        "--nsd-tolerance",
        "2",
        *W1,
    ),
    _c(
        "score_losses_options",
        "score",
        *PROB,
        "--metrics",
        "losses",
        "--focal-gamma",
        "3",
        "--focal-alpha",
        "0.4",
        "--w0",
        "5",
        "--sigma",
        "3",
        "--tversky-alpha",
        "0.4",
        "--tversky-beta",
        "0.6",
        "--focal-tversky-gamma",
        "1.5",
        "--pos-weight",
        "2.5",
        "--smooth",
        "1",
        "--dice-gamma",
        "1.5",
        "--format",
        "json",
        *W1,
    ),
    _c(
        "score_combine",
        "score",
        *PROB,
        "--metrics",
        "dice,bce",
        "--combine",
        "0.3*bce + 0.4*dice_loss - boundary_loss*0.3",
        "--format",
        "jsonl",
        *W1,
    ),
    _c(
        "score_empty_inf",
        "score",
        "synth/empty/pred",
        "synth/empty/gt",
        "--metrics",
        "dice,hd,hd95,hd95_pooled,assd,masd,nsd,boundary_iou",
        *W1,
    ),
    _c(
        "score_empty_worst",
        "score",
        "synth/empty/pred",
        "synth/empty/gt",
        "--metrics",
        "surface",
        "--empty-distance",
        "worst",
        "--format",
        "json",
        *W1,
    ),
    _c(
        "score_empty_nan",
        "score",
        "synth/empty/pred",
        "synth/empty/gt",
        "--metrics",
        "surface",
        "--empty-distance",
        "nan",
        *W1,
    ),
    _c(
        "score_empty_value",
        "score",
        "synth/empty/pred",
        "synth/empty/gt",
        "--metrics",
        "hd,hd95,assd",
        "--empty-distance",
        "373.13",
        "--format",
        "jsonl",
        *W1,
    ),
    _c(
        "score_ci",
        "score",
        *PROB,
        "--metrics",
        "dice,hd95,bce",
        "--ci",
        "0.9",
        "--bootstrap",
        "499",
        "--seed",
        "3",
        *W1,
    ),
    _c(
        "score_ci_table",
        "score",
        *BIN,
        "--metrics",
        "dice,iou",
        "--ci",
        "0.95",
        "--bootstrap",
        "999",
        "--format",
        "table",
        *W1,
    ),
    _c(
        "score_ci_jsonl_nonfinite",
        "score",
        "synth/empty/pred",
        "synth/empty/gt",
        "--metrics",
        "dice,hd95,nsd",
        "--ci",
        "0.95",
        "--bootstrap",
        "199",
        "--format",
        "jsonl",
        *W1,
    ),
    _c("score_thresholds_range", "score", *PROB, "--thresholds", "0.2:0.8:0.2", "--metrics", "dice,hd95", *W1),
    _c(
        "score_thresholds_list_jsonl",
        "score",
        *PROB,
        "--thresholds",
        "0.25,0.5,0.75",
        "--metrics",
        "dice,iou,assd",
        "--format",
        "jsonl",
        *W1,
    ),
    _c(
        "score_thresholds_json",
        "score",
        *PROB,
        "--thresholds",
        "0.3,0.6",
        "--metrics",
        "dice,hd",
        "--format",
        "json",
        *W1,
    ),
    _c(
        "score_raters",
        "score",
        *BIN,
        "--rater",
        "synth/bin/r2",
        "--rater",
        "synth/bin/r3",
        "--metrics",
        "dice,hd95,bce",
        "--format",
        "csv",
        *W1,
        needs=("SimpleITK",),
    ),
    _c(
        "score_raters_json",
        "score",
        *PROB,
        "--rater",
        "synth/bin/r2",
        "--metrics",
        "dice,assd",
        "--format",
        "json",
        *W1,
        needs=("SimpleITK",),
    ),
    _c(
        "score_missing_skip",
        "score",
        "synth/bin/pred_partial",
        "synth/bin/gt",
        "--missing",
        "skip",
        "--metrics",
        "dice",
        *W1,
    ),
    _c(
        "score_missing_empty",
        "score",
        "synth/bin/pred_partial",
        "synth/bin/gt",
        "--missing",
        "empty",
        "--metrics",
        "dice,hd95",
        *W1,
    ),
    _c(
        "score_resume_finished",
        "score",
        *BIN,
        "--metrics",
        "dice,hd95",
        "-o",
        "{out}/run.jsonl",
        "--resume",
        *W1,
        pre=[("score", *BIN, "--metrics", "dice,hd95", "-o", "{out}/run.jsonl", *W1)],
    ),
    _c(
        "score_suffix",
        "score",
        "synth/suffix/pred",
        "synth/suffix/gt",
        "--pred-suffix",
        "_pred",
        "--gt-suffix",
        "_0000",
        "--metrics",
        "dice",
        *W1,
    ),
    # --- score, multi-class ----------------------------------------------------------------
    _c("score_mc_num_classes_all", "score", *MC, "--num-classes", "4", "--metrics", "all", *W1),
    _c(
        "score_mc_json_names_bg",
        "score",
        *MC,
        "--num-classes",
        "4",
        "--include-background",
        "--class-names",
        "bg,road,car,tree",
        "--metrics",
        "dice,iou,hd95,ce,dice_loss",
        "--format",
        "json",
        *W1,
    ),
    _c(
        "score_mc_class_weights",
        "score",
        *MC,
        "--num-classes",
        "4",
        "--class-weights",
        "1,2,3,4",
        "--metrics",
        "ce,focal_loss",
        "--ignore-index",
        "255",
        *W1,
    ),
    _c(
        "score_mc_class_weights_json",
        "score",
        *MC,
        "--num-classes",
        "4",
        "--class-weights",
        "{out}/cw.json",
        "--class-weight-scheme",
        "median",
        "--metrics",
        "ce",
        "--format",
        "jsonl",
        *W1,
        pre=[("classweights", "synth/mc/gt", "--format", "json", "--output", "{out}/cw.json", *W1)],
    ),
    _c(
        "score_mc_prob",
        "score",
        "synth/mc/prob",
        "synth/mc/gt",
        "--num-classes",
        "4",
        "--metrics",
        "dice,hd95,ce,dice_loss,lovasz_softmax",
        *W1,
    ),
    _c(
        "score_mc_labels_json",
        "score",
        *MC,
        "--labels",
        "synth/mc/dataset.json",
        "--metrics",
        "dice,hd95,nsd",
        "--format",
        "json",
        *W1,
    ),
    _c(
        "score_nifti_labels",
        "score",
        "sample_data/nifti/pred",
        "sample_data/nifti/gt",
        "--labels",
        "sample_data/nifti/dataset.json",
        "--metrics",
        "dice,hd95",
        "--format",
        "csv",
        *W1,
    ),
    _c("score_label_map_as_binary", "score", *MC, "--metrics", "dice", *W1),
    _c(
        "score_sample_labels_mc",
        "score",
        "sample_data/labels",
        "sample_data/labels",
        "--num-classes",
        "4",
        "--metrics",
        "dice,iou",
        *W1,
    ),
    # --- objects -------------------------------------------------------------------------
    _c(
        "score_objects_instances",
        "score",
        "synth/inst/pred",
        "sample_data/instances/cells01.tif",
        "--objects",
        "instances",
        "--metrics",
        "dice",
        "--format",
        "json",
        *W1,
    ),
    _c(
        "score_objects_instances_out",
        "score",
        "synth/inst/pred",
        "sample_data/instances/cells01.tif",
        "--objects",
        "instances",
        "--iou-threshold",
        "0.3",
        "--objects-out",
        "{out}/objects.csv",
        *W1,
    ),
    _c(
        "score_objects_components",
        "score",
        "synth/inst/pred_binary",
        "sample_data/instances/cells01_binary.png",
        "--objects",
        "components",
        "--connectivity",
        "1",
        "--metrics",
        "dice,iou",
        *W1,
    ),
    _c("score_objects_metrics_group", "score", *BIN, "--metrics", "dice,objects", "--format", "jsonl", *W1),
    _c("score_objects_mc", "score", *MC, "--num-classes", "4", "--objects", "components", "--metrics", "dice", *W1),
    # --- weightmap -------------------------------------------------------------------------
    _c("weightmap_unet", "weightmap", "synth/bin/gt", "--out", "{out}/w", *W1),
    _c(
        "weightmap_unet_options",
        "weightmap",
        "sample_data/instances",
        "--out",
        "{out}/w",
        "--w0",
        "5",
        "--sigma",
        "3",
        "--wc",
        "balanced",
        "--connectivity",
        "2",
        *W1,
    ),
    _c("weightmap_unet_wc_list", "weightmap", "synth/vol/gt", "--out", "{out}/w", "--wc", "0.5,2", *W1),
    _c(
        "weightmap_unet_wc_json",
        "weightmap",
        "synth/bin/gt",
        "--out",
        "{out}/w",
        "--wc",
        "{out}/cw.json",
        "--wc-scheme",
        "balanced",
        *W1,
        pre=[("classweights", "synth/bin/gt", "--format", "json", "--output", "{out}/cw.json", *W1)],
    ),
    _c("weightmap_sdf", "weightmap", "synth/mc/pred", "--out", "{out}/w", "--kind", "sdf", *W1),
    _c("weightmap_boundary", "weightmap", "synth/bin/gt", "--out", "{out}/w", "--kind", "boundary", *W1),
    _c(
        "weightmap_distance_vol",
        "weightmap",
        "synth/vol/gt",
        "--out",
        "{out}/w",
        "--kind",
        "distance",
        "--spacing",
        "2,1,1",
        *W1,
    ),
    _c("weightmap_nifti", "weightmap", "sample_data/nifti/gt", "--out", "{out}/w", "--kind", "sdf", *W1),
    _c("weightmap_preview", "weightmap", "synth/bin/gt", "--out", "{out}/w", "--kind", "distance", "--preview", *W1),
    _c(
        "weightmap_skip_existing",
        "weightmap",
        "synth/bin/gt",
        "--out",
        "{out}/w",
        "--kind",
        "boundary",
        "--skip-existing",
        *W1,
        pre=[("weightmap", "synth/bin/gt", "--out", "{out}/w", "--kind", "boundary", *W1)],
    ),
    # --- classweights ----------------------------------------------------------------------
    _c("classweights_csv", "classweights", "synth/mc/gt", *W1),
    _c("classweights_table", "classweights", "sample_data/labels", "--format", "table", *W1),
    _c("classweights_json", "classweights", "synth/mc/gt", "--format", "json", "--num-classes", "5", *W1),
    _c("classweights_torch", "classweights", "sample_data/labels", "--format", "torch", "--beta", "0.99", *W1),
    _c(
        "classweights_schemes",
        "classweights",
        "synth/mc/gt",
        "--scheme",
        "inverse,enet,effective",
        "--format",
        "csv",
        "--beta",
        "0.5",
        *W1,
    ),
    _c("classweights_ignore_index", "classweights", "synth/mc/pred", "--ignore-index", "3", "--format", "json", *W1),
    _c(
        "classweights_label_out_of_range",
        "classweights",
        "synth/mc/gt",
        "--num-classes",
        "4",
        "--ignore-index",
        "3",
        *W1,
    ),
    _c(
        "classweights_each_scheme",
        "classweights",
        "synth/mc/gt",
        "--scheme",
        "balanced",
        "--format",
        "json",
        "--output",
        "{out}/b.json",
        *W1,
        pre=[
            ("classweights", "synth/mc/gt", "--scheme", s, "--format", "csv", *W1)
            for s in ("inverse", "median", "enet", "effective")
        ],
    ),
    _c("classweights_binary_0_255", "classweights", "synth/bin/gt", "--format", "json", *W1),
    _c("classweights_absent_error", "classweights", "synth/mc/gt", "--num-classes", "6", "--absent", "error", *W1),
    # --- compare and report ------------------------------------------------------------------
    _c(
        "compare_jsonl_csv",
        "compare",
        "{out}/a.jsonl",
        "{out}/b.jsonl",
        "--format",
        "csv",
        pre=[
            ("score", *SAMPLE, "-o", "{out}/a.jsonl", "--metrics", "dice,hd95", *W1),
            ("score", "sample_data/gt", "sample_data/gt", "-o", "{out}/b.jsonl", "--metrics", "dice,hd95", *W1),
        ],
    ),
    _c(
        "compare_formats",
        "compare",
        "{out}/a.jsonl",
        "{out}/b.json",
        "--format",
        "json",
        pre=[
            ("score", *PROB, "-o", "{out}/a.jsonl", "--metrics", "dice,hd95,bce,obj_fp", *W1),
            (
                "score",
                *PROB,
                "-o",
                "{out}/b.json",
                "--metrics",
                "dice,hd95,bce,obj_fp",
                "--threshold",
                "0.4",
                "--focal-gamma",
                "3",
                *W1,
            ),
            ("compare", "{out}/a.jsonl", "{out}/b.json", "--format", "table", "--metrics", "dice,bce"),
            ("compare", "{out}/a.jsonl", "{out}/b.json", "--format", "tsv", "--metrics", "dice,dice"),
            (
                "compare",
                "{out}/a.jsonl",
                "{out}/b.json",
                "--format",
                "jsonl",
                "-o",
                "{out}/cmp.jsonl",
                "--metrics",
                "hd95",
            ),
        ],
    ),
    _c(
        "compare_csv_tsv",
        "compare",
        "{out}/a.csv",
        "{out}/b.tsv",
        pre=[
            ("score", *BIN, "-o", "{out}/a.csv", "--metrics", "dice,iou,hd95,assd,nsd", *W1),
            ("score", "synth/bin/r2", "synth/bin/gt", "-o", "{out}/b.tsv", "--metrics", "dice,iou,hd95,assd,nsd", *W1),
        ],
    ),
    _c(
        "compare_thresholds_csv",
        "compare",
        "{out}/a.csv",
        "{out}/b.csv",
        "--metrics",
        "dice@0.5,hd95@0.25",
        pre=[
            ("score", *PROB, "--thresholds", "0.25,0.5", "--metrics", "dice,hd95", "-o", "{out}/a.csv", *W1),
            (
                "score",
                "synth/bin/r2",
                "synth/bin/gt",
                "--thresholds",
                "0.25,0.5",
                "--metrics",
                "dice,hd95",
                "-o",
                "{out}/b.csv",
                *W1,
            ),
        ],
    ),
    _c("compare_gt_dirs", "compare", "synth/bin/pred", "synth/bin/r2", "--gt", "synth/bin/gt", *W1),
    _c(
        "report_html",
        "report",
        "{out}/run.jsonl",
        "-o",
        "{out}/report.html",
        pre=[
            ("score", *PROB, "-o", "{out}/run.jsonl", "--metrics", "dice,hd95,bce", *W1),
        ],
    ),
    _c(
        "score_with_report",
        "score",
        *MC,
        "--num-classes",
        "4",
        "--metrics",
        "dice,hd95",
        "--report",
        "{out}/r.html",
        "--report-sort",
        "hd95",
        *W1,
    ),
    # --- errors ------------------------------------------------------------------------------
    _c("error_bad_format", "score", *BIN, "--format", "xml"),
    _c("error_nan_sigma", "score", *BIN, "--sigma", "nan"),
    _c("error_bad_threshold", "score", *BIN, "--threshold", "1.5"),
    _c("error_bad_metric", "score", *BIN, "--metrics", "dice,nosuchscore"),
    _c("error_bad_combine", "score", *BIN, "--combine", "0.3*bce + + dice_loss"),
    _c("error_thresholds_and_threshold", "score", *PROB, "--thresholds", "0.1:0.9:0.1", "--threshold", "0.4"),
    _c("error_bad_empty_distance", "score", *BIN, "--empty-distance", "far"),
    _c("error_missing_dir", "score", "synth/nope", "synth/bin/gt"),
    _c("error_unmatched", "score", "synth/bin/pred_partial", "synth/bin/gt"),
    _c("error_bad_pair_file", "score", "synth/broken/pred", "synth/broken/gt", "--metrics", "dice", *W1),
    _c("error_broken_symlink", "score", "synth/dangling/pred", "synth/dangling/gt", "--metrics", "dice", *W1),
    _c("error_rater_missing", "score", *BIN, "--rater", "synth/nope", "--metrics", "dice", *W1),
    _c("error_missing_file", "score", "synth/broken/pred/b.png", "synth/broken/gt/b.png", *W1),
    _c("error_weightmap_bad_w0", "weightmap", "synth/bin/gt", "--out", "{out}/w", "--w0", "-1"),
    _c("error_weightmap_bad_file", "weightmap", "synth/broken/gt", "--out", "{out}/w", *W1),
    _c("error_classweights_beta", "classweights", "synth/mc/gt", "--beta", "1"),
    _c("error_compare_missing", "compare", "{out}/nope.jsonl", "{out}/nope2.jsonl"),
    _c("error_report_missing", "report", "{out}/nope.jsonl", "-o", "{out}/r.html"),
    _c(
        "error_output_exists",
        "score",
        *BIN,
        "--metrics",
        "dice",
        "-o",
        "{out}/run.csv",
        *W1,
        pre=[("score", *BIN, "--metrics", "dice", "-o", "{out}/run.csv", *W1)],
    ),
    _c("error_unknown_command", "frobnicate"),
    _c("error_unknown_option", "score", *BIN, "--no-such-option"),
]


# --- inputs -------------------------------------------------------------------------------------


def make_inputs(work: Path, repo: Path) -> None:
    """Write the inputs into ``work``: ``sample_data`` (a copy of the repository's) and ``synth``."""
    import numpy as np
    import tifffile
    from PIL import Image

    shutil.copytree(repo / "sample_data", work / "sample_data", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    rng = np.random.default_rng(20260101)
    s = work / "synth"

    def png(path: Path, array) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)

    def npy(path: Path, array) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, array)

    def tif(path: Path, array, **kw) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, array, **kw)

    yy, xx = np.indices((64, 64))

    def shapes(n: int, jitter: float = 0.0):
        """n random discs and rectangles; returns the mask and a signed 'distance' field."""
        field = np.full((64, 64), -np.inf)
        for _ in range(n):
            cy, cx = rng.uniform(12, 52, 2)
            r = rng.uniform(5, 12)
            if rng.random() < 0.5:
                f = r - np.hypot(yy - cy, xx - cx)
            else:
                f = r - np.maximum(np.abs(yy - cy) * rng.uniform(0.7, 1.4), np.abs(xx - cx))
            field = np.maximum(field, f)
        return field

    # binary: 6 pairs of 0/255 PNG masks, probabilities (NPY float32) and two more raters
    for i in range(6):
        f = shapes(1 + i % 3)
        gt = f > 0
        shift = rng.integers(-3, 4, 2)
        pf = np.roll(f, tuple(shift), axis=(0, 1)) + rng.normal(0, 1.2, f.shape)
        prob = (1 / (1 + np.exp(-pf / 2))).astype(np.float32)
        name = f"img{i}"
        png(s / "bin/gt" / f"{name}.png", (gt * 255).astype(np.uint8))
        png(s / "bin/pred" / f"{name}.png", ((prob >= 0.5) * 255).astype(np.uint8))
        if i < 4:
            png(s / "bin/pred_partial" / f"{name}.png", ((prob >= 0.5) * 255).astype(np.uint8))
        npy(s / "prob/pred" / f"{name}.npy", prob)
        for r in ("r2", "r3"):
            rf = np.roll(f, tuple(rng.integers(-2, 3, 2)), axis=(0, 1)) + rng.normal(0, 0.5, f.shape)
            png(s / "bin" / r / f"{name}.png", ((rf > 0) * 255).astype(np.uint8))
    # suffixes (nnU-Net style)
    for i in range(2):
        gt = shapes(2) > 0
        png(s / "suffix/gt" / f"case{i}_0000.png", (gt * 255).astype(np.uint8))
        png(s / "suffix/pred" / f"case{i}_pred.png", (np.roll(gt, 2, axis=1) * 255).astype(np.uint8))
    # empty cases: missed, spurious, both empty, a found structure
    zero = np.zeros((64, 64), np.uint8)
    one = ((shapes(1) > 0) * 255).astype(np.uint8)
    for name, p, g in (
        ("missed", zero, one),
        ("spurious", one, zero),
        ("both_empty", zero, zero),
        ("found", np.roll(one, 3, axis=0), one),
    ):
        png(s / "empty/pred" / f"{name}.png", p)
        png(s / "empty/gt" / f"{name}.png", g)
    # 3-D: two small uint8 TIFF volumes, the GT with ImageJ spacing
    zz, vy, vx = np.indices((8, 32, 32))
    for i in range(2):
        c = rng.uniform(10, 22, 3)
        r = rng.uniform(5, 8)
        d = np.sqrt(((zz - c[0] / 3) * 2.0) ** 2 + (vy - c[1]) ** 2 + (vx - c[2]) ** 2)
        gt = (d < r).astype(np.uint8)
        pred = (np.roll(d, 1 + i, axis=2) + rng.normal(0, 0.6, d.shape) < r).astype(np.uint8)
        tif(
            s / "vol/gt" / f"vol{i}.tif",
            gt,
            imagej=True,
            resolution=(2.0, 2.0),
            metadata={"spacing": 1.5, "unit": "um"},
        )
        tif(s / "vol/pred" / f"vol{i}.tif", pred * 255)
    # multi-class: 4 label maps 48x48 with classes 0..3 and a few 255 (ignore) pixels
    for i in range(4):
        base = rng.integers(0, 4, (6, 6))
        gt = np.kron(base, np.ones((8, 8), np.int64)).astype(np.uint8)
        pred = gt.copy()
        flip = rng.random(gt.shape) < 0.08
        pred[flip] = rng.integers(0, 4, int(flip.sum()))
        pred = np.roll(pred, 1, axis=i % 2)
        gt[rng.random(gt.shape) < 0.02] = 255
        png(s / "mc/gt" / f"scene{i}.png", gt)
        png(s / "mc/pred" / f"scene{i}.png", pred)
        logits = rng.normal(0, 1, (4, 48, 48)) + 3.0 * np.eye(4)[pred].transpose(2, 0, 1)
        e = np.exp(logits - logits.max(axis=0))
        npy(s / "mc/prob" / f"scene{i}.npy", (e / e.sum(axis=0)).astype(np.float32))
    (s / "mc/dataset.json").write_text(
        json.dumps(
            {"labels": {"background": 0, "road": 1, "car": 2, "tree": 3, "vehicle": [2, 3], "ignore": 255}}, indent=1
        )
    )
    # instances: a prediction of sample_data/instances/cells01.tif (cells shifted, one merged, one lost)
    cells = tifffile.imread(repo / "sample_data/instances/cells01.tif").astype(np.int64)
    pred = np.roll(cells, (1, -1), axis=(0, 1))
    pred[pred == 3] = 0
    pred[pred == 5] = 4
    extra = (np.hypot(yy * 3 - 20, xx * 3 - 170) < 7) & (pred[:64, :64] == 0)
    pred[:64, :64][extra] = 99
    tif(s / "inst/pred/cells01.tif", pred.astype(np.uint16))
    png(s / "inst/pred_binary/cells01_binary.png", ((pred > 0) * 255).astype(np.uint8))
    # a link to nothing in a prediction folder
    for i in range(2):
        png(s / "dangling/gt" / f"img{i}.png", one)
    png(s / "dangling/pred/img1.png", one)
    (s / "dangling/pred/img0.png").symlink_to("../../nowhere/img0.png")
    # broken inputs: a file that is not an image, and a colour image
    (s / "broken/pred").mkdir(parents=True)
    (s / "broken/gt").mkdir(parents=True)
    (s / "broken/pred/a.png").write_bytes(b"not a png at all")
    png(s / "broken/gt/a.png", one)
    png(s / "broken/pred/c.png", one)
    png(s / "broken/gt/c.png", one)
    colour = np.stack([one, zero, one[::-1]], axis=-1)
    png(s / "broken/gt/d.png", colour)
    png(s / "broken/pred/d.png", one)


# --- running and normalising ----------------------------------------------------------------------


def command_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(FIXED_ENV)
    env["PYTHONPATH"] = str(root)  # the segcli under test, whatever is installed
    return env


def run_segcli(args: list[str], *, work: Path, root: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segcli", *args],
        cwd=work,
        env=command_env(root),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


def check_import_root(work: Path, root: Path) -> str:
    """Where ``python -m segcli`` in ``work`` imports segcli from (must be under ``root``)."""
    done = subprocess.run(
        [sys.executable, "-c", "import segcli; print(segcli.__file__)"],
        cwd=work,
        env=command_env(root),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def run_case(case: Case, *, work: Path, root: Path) -> str:
    """Run a case and return its normalised transcript."""
    out = work / "out" / case.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rel_out = f"out/{case.name}"
    parts = []
    runs = [*case.pre, case.args]
    for i, args in enumerate(runs):
        argv = [a.replace("{out}", rel_out) for a in args]
        done = run_segcli(argv, work=work, root=root)
        label = "run" if i == len(runs) - 1 else f"pre {i + 1}"
        parts.append(f"=== {label}: segcli {' '.join(_show_arg(a) for a in args)}\n")
        parts.append(f"--- exit code: {done.returncode}\n")
        parts.append(_section("stdout", done.stdout))
        parts.append(_section("stderr", done.stderr))
    for path in sorted(p for p in out.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(out).as_posix()
        data = path.read_bytes()
        if path.suffix in TEXT_SUFFIXES and path.suffix not in case.hash_only and _is_text(data):
            if path.suffix == ".html":
                data = html_lines(data.decode("utf-8")).encode("utf-8")
            parts.append(_section(f"file {{out}}/{rel}", data))
        else:
            parts.append(f"=== file {{out}}/{rel}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}\n")
    return normalise("".join(parts), work=work, root=root)


def _show_arg(arg: str) -> str:
    return arg if arg and re.fullmatch(r"[\w@%+=:,./{}-]+", arg) else repr(arg)


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _section(title: str, data: bytes) -> str:
    text = data.decode("utf-8", errors="backslashreplace")
    if not text:
        return f"=== {title}: (empty)\n"
    end = "" if text.endswith("\n") else "\n(no newline at end)\n"
    return f"=== {title}:\n{text}{end}"


_DATA_URI = re.compile(r"data:([\w/+.-]+);base64,([A-Za-z0-9+/=]+)")
_HTML_BREAK = re.compile(r"(</(?:tr|thead|tbody|table|h[1-6]|p|li|ul|ol|div|details|summary|style|header)>|<br>)(?!\n)")
BREAK_MARK = "\u23ce"  # shown where a line break was added for reading (not in the page)


def html_lines(page: str) -> str:
    """The HTML page made readable in a diff, losing nothing: each inlined image (base64) replaced
    by its size and sha256, and a line break (after the mark ⏎) added after closing tags."""
    import base64

    def image(m: re.Match) -> str:
        raw = base64.b64decode(m.group(2))
        return f"data:{m.group(1)};base64,<{len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}>"

    page = _DATA_URI.sub(image, page)
    if BREAK_MARK in page:
        return page
    return _HTML_BREAK.sub(lambda m: m.group(1) + BREAK_MARK + "\n", page)


_HTML_SETTING = re.compile(r"(<td>setting: (?:max_memory|cpu_plan\.[\w.]+)</td><td>)[^<]*")
_MAX_MEMORY = re.compile(r'("max_memory"\s*:\s*)(-?[0-9.eE+-]+|null)')
_CPU_PLAN = re.compile(r'("cpu_plan"\s*:\s*)\{[^{}]*\}')
_HTML_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)?")


def normalise(text: str, *, work: Path, root: Path) -> str:
    """What depends on the machine or the run, replaced by placeholders: the work directory
    (a temporary one) and the repository's path (<WORK>, <ROOT>; the cases' own paths are
    relative, so these are a safety net), the interpreter's path, ``max_memory`` (80% of this
    machine's memory) and ``cpu_plan`` (its CPUs) in JSON settings and in the HTML report's
    provenance, and ISO timestamps (the report's date); then ``RENAMED_SETTINGS``."""
    text = text.replace(sys.executable, "<PYTHON>")
    for path, placeholder in sorted(((work, "<WORK>"), (root, "<ROOT>")), key=lambda p: -len(str(p[0]))):
        for form in sorted({str(path), str(path.resolve()), os.path.realpath(path)}, key=len, reverse=True):
            text = text.replace(form, placeholder)
    text = _MAX_MEMORY.sub(r'\1"<MAX_MEMORY>"', text)
    text = _CPU_PLAN.sub(r'\1"<CPU_PLAN>"', text)
    text = _HTML_SETTING.sub(lambda m: m.group(1) + "&lt;MACHINE&gt;", text)
    text = _HTML_DATE.sub("<DATE>", text)
    return rename_settings(text)


def rename_settings(text: str) -> str:
    """Keys of RENAMED_SETTINGS renamed inside every JSON ``"settings": {...}`` object of the text
    (at any depth), in the settings rows of an HTML report and in compare's warning naming the
    settings two runs differ in. The key order stays as recorded: a rename that also moves a key
    needs the golden files recorded again."""
    if not RENAMED_SETTINGS:
        return text
    decoder = json.JSONDecoder()
    keys = re.compile(r'(?<!\\)"(' + "|".join(re.escape(k) for k in RENAMED_SETTINGS) + r')"(\s*:)')
    out, pos = [], 0
    for m in re.finditer(r'"settings"\s*:\s*(?=\{)', text):
        start = m.end()
        if start < pos:
            continue
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        out.append(text[pos:start])
        out.append(keys.sub(lambda k: f'"{RENAMED_SETTINGS[k.group(1)]}"{k.group(2)}', text[start:end]))
        pos = end
    out.append(text[pos:])
    text = "".join(out)

    def dotted(path: str) -> str:
        return ".".join(RENAMED_SETTINGS.get(k, k) for k in path.split("."))

    # the HTML report's provenance rows: <td>setting: options.unet_w0</td>
    text = re.sub(r"(<td>setting: )([\w.]+)(?=</td>)", lambda m: m.group(1) + dotted(m.group(2)), text)
    # compare's warning: the two runs used different settings: options.focal_gamma, threshold
    return re.sub(
        r"(used different settings: )([\w.]+(?:, [\w.]+)*)$",
        lambda m: m.group(1) + ", ".join(dotted(k) for k in m.group(2).split(", ")),
        text,
        flags=re.MULTILINE,
    )


def expected_path(case: Case) -> Path:
    return EXPECTED / f"{case.name}.txt"


def missing_modules(case: Case) -> list[str]:
    import importlib.util

    return [m for m in case.needs if importlib.util.find_spec(m) is None]
