"""Every option by its one name: default, help text, and the flag the CLI spells it with.

An option has one name everywhere: the Python API's keyword, the settings field, the key of the
JSON settings record and the stem of the CLI flag (``nsd_tolerance`` <-> ``--nsd-tolerance``).
``OPTIONS`` is the table; ``default(name)`` is where the library, the public wrappers and the typer
options take a default from, so each is written once (a test walks the sources for literals);
``flag(name, command)`` is the one lookup from a name to its flag (the few flags whose stem is not
the name are ``FLAGS``). Help texts that differ by command (``--workers`` of classweights reads
files, of score scores pairs) are ``Option.helps``; ``help_text`` fills ``{default}`` in.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Option:
    """One option: its name, default and help (``{default}`` stands for the default as shown)."""

    name: str
    default: object
    help: str = ""
    helps: dict[str, str] = field(default_factory=dict)  # per command, where the help differs
    defaults: dict[str, object] = field(default_factory=dict)  # per command, where the default differs
    # A parameter that scores read (a row's ``options``): a field of ``ScoreOptions``, a flag of
    # ``segcli score`` and a keyword of ``segcli.score`` come from this row alone where they are
    # not written out; ``low``/``high`` (``strict``: low excluded) is its range check.
    score: bool = False
    low: float | None = None
    high: float | None = None
    strict: bool = False


_LOSS = "Loss parameters"
_MC = "Multi-class"

_TABLE = (
    # what to score and how to read it
    Option(
        "metrics",
        "default",
        "Comma list of scores and groups (region, surface, losses, objects; default: every score but the "
        "opt-in ones, such as fbeta; all: every score of the mode; objects: the object scores).",
    ),
    Option("pred_kind", "auto", "How to read predictions."),
    Option("threshold", 0.5, "Hard prediction = probability >= threshold \\[default: {default}]."),
    Option(
        "thresholds",
        None,
        "Score probability maps at each threshold START:STOP:STEP (STOP included) or a comma list: "
        "long output (name, threshold, score, value) and the best threshold per score.",
    ),
    Option(
        "spacing",
        None,
        "Voxel spacing in array axis order, e.g. 2.0,0.5,0.5 \\[default: from the files' metadata, else 1].",
        helps={"weightmap": "Voxel spacing in array axis order \\[default: from TIFF metadata, else 1]."},
    ),
    Option(
        "spacing_unit",
        None,
        "The unit of --spacing (mm, um, ...), stated beside every distance \\[default: unspecified].",
    ),
    Option(
        "ignore_geometry",
        False,
        "Score pairs whose headers disagree on spacing, origin or direction, with the GT's spacing.",
    ),
    Option(
        "empty_distance",
        "inf",
        "A distance score with exactly one side empty (a missed structure): inf, worst (the image "
        "diagonal in spacing units), nan (left out of means, counted) or a number.",
    ),
    Option("nsd_tolerance", 1.0, "Tolerance of nsd, in spacing units.", score=True),
    # pairing the files
    Option("pred_suffix", "", "Suffix removed from prediction names before matching."),
    Option("gt_suffix", "", "Suffix removed from ground-truth names before matching (nnU-Net: _0000)."),
    Option("missing", "error", "Unmatched files: error (exit 2), skip, or empty (missing prediction = empty mask)."),
    # multi-class
    Option(
        "num_classes",
        None,
        "Multi-class mode with K classes (GT is a label map).",
        helps={"classweights": "Number of classes K \\[default: max label + 1, reported]."},
    ),
    Option(
        "ignore_index",
        255,
        "GT label that takes part in nothing (multi-class) \\[default: {default}].",
        helps={
            "classweights": "Label excluded from every count \\[default: {default}, except on masks of only 0 and "
            "{default}, where {default} is class 1 unless this is given]."
        },
    ),
    Option("include_background", False, "Score class 0 too (multi-class)."),
    Option("class_names", None, "Comma list of K class names for the columns."),
    Option(
        "labels",
        None,
        'nnU-Net dataset.json: its "labels" name and choose the classes (lists are regions); '
        "sets the multi-class mode \\[default: none].",
    ),
    Option(
        "class_weights",
        None,
        "ce class weights: a comma list or the JSON of segcli classweights.",
        helps={
            "weightmap": "U-Net class term: uniform, balanced (per image), a comma list 'w_bg,w_fg', "
            "or a classweights JSON."
        },
        defaults={"weightmap": "uniform"},
    ),
    Option(
        "class_weight_scheme",
        "inverse",
        "Scheme to take from a --class-weights JSON.",
        helps={"weightmap": "Scheme to take from a --wc JSON."},
    ),
    # loss parameters
    Option("focal_alpha", 0.25, "focal_loss alpha (negative: no class weighting).", score=True),
    Option("focal_gamma", 2.0, "focal_loss gamma.", score=True),
    Option("tversky_alpha", 0.3, "Tversky weight of false positives.", score=True),
    Option("tversky_beta", 0.7, "Tversky weight of false negatives.", score=True),
    Option("focal_tversky_gamma", 0.75, "focal_tversky_loss exponent.", score=True),
    Option("pos_weight", None, "wbce positive weight \\[default: negatives/positives per image].", score=True),
    Option(
        "w0",
        10.0,
        "unet_wce border weight w0.",
        helps={"weightmap": "U-Net border weight w0."},
        score=True,
    ),
    Option(
        "sigma",
        5.0,
        "unet_wce border width sigma (spacing units).",
        helps={"weightmap": "U-Net border width sigma, in spacing units."},
        score=True,
    ),
    Option("smooth", 1e-6, "Smoothing s of the Dice and Tversky losses.", score=True),
    Option("dice_gamma", 2.0, "squared_dice_loss exponent of p and g (V-Net: 2).", score=True),
    Option(
        "fbeta_beta",
        1.0,
        "fbeta's beta: recall counts beta times as much as precision (1: Dice; 2: F2).",
        score=True,
        low=0.0,
        strict=True,
    ),
    Option("combo_alpha", 0.5),  # combo_loss's weight of its BCE term; no flag
    Option(
        "combine",
        None,
        'A weighted sum of losses, e.g. "0.3*bce + 0.4*dice_loss + 0.3*boundary_loss", reported as '
        "the column combined.",
    ),
    # object scores
    Option(
        "objects",
        None,
        "Object-level scores (cells, lesions): instances = label maps as they are, components = "
        "connected components of the masks.",
    ),
    Option("iou_threshold", 0.5, "A predicted object matches a GT object when their IoU is above this."),
    Option(
        "connectivity",
        None,
        "Components: neighbours at most this many axes apart (1 = 4/6) \\[default: full, 8/26].",
        helps={"weightmap": "Connected components of binary masks: 1 = 4/6-neighbours, 2 = 8/26."},
        defaults={"weightmap": 1},
    ),
    # the summary's interval
    Option("ci", None, "Add a confidence interval of each mean to the summary (e.g. 0.95): BCa bootstrap."),
    Option("bootstrap", 9999, "Bootstrap resamples for --ci."),
    Option("seed", 0, "Seed of the --ci bootstrap (same data, same interval)."),
    # how a run runs
    Option(
        "workers",
        None,
        "Parallel worker processes \\[default: all cores].",
        # the library's functions (score_files, count_classes) run in this process unless asked
        defaults={"library": 1},
        helps={
            "classweights": "Parallel reader processes \\[default: all cores].",
            "compare": "Worker processes when scoring (--gt) \\[default: all cores].",
        },
    ),
    Option(
        "device",
        "auto",
        "auto, cpu, cuda or cuda:N. auto picks cuda:0 only for a binary run that asks for surface "
        "scores or distance losses and is large for its CPU workers (a GPU found, torch sees it), else the "
        "CPU; --resume continues on the device the run recorded.",
        helps={
            "weightmap": "Where the sdf, boundary and distance maps are computed: auto (the CPU), cpu, cuda or "
            "cuda:N (the same exact transforms on the GPU, one file at a time; unet maps stay on the CPU; needs "
            "segcli[gpu])."
        },
    ),
    Option(
        "scheduler",
        None,
        "Score on a Dask cluster (tcp://host:8786): each pair a task on a worker (needs segcli[dask]).",
        helps={
            "weightmap": "Compute and write the maps on a Dask cluster (tcp://host:8786) whose workers see --out "
            "(needs segcli[dask]).",
            "classweights": "Count on a Dask cluster (tcp://host:8786), the counts summed here (needs segcli[dask]).",
        },
    ),
    Option(
        "max_memory",
        None,
        "GiB the whole run may use; a pair that would need more is reported, not scored "
        "\\[default: 80% of physical memory].",
    ),
    Option(
        "fail_fast",
        False,
        "Stop at the first pair that cannot be scored.",
        helps={"weightmap": "Stop at the first file that cannot be processed."},
    ),
    # weight maps and class weights
    Option("kind", "unet", "unet weight map, sdf (Kervadec signed distance), boundary or distance weights."),
    Option("scheme", "all", "Comma list of inverse, balanced, median, enet, effective, or all."),
    Option("beta", 0.9999, "beta of the effective-number scheme."),
    # compare
    Option(
        "scores",
        None,
        "Scores to compare, comma-separated; each is compared once however often it is named "
        "\\[default: every score both runs have; with --gt: dice,iou,hd95,assd].",
    ),
)

OPTIONS: dict[str, Option] = {option.name: option for option in _TABLE}
# The parameters scores read, in the table's order (``build_settings`` sets them by name).
SCORE_PARAMETERS: tuple[str, ...] = tuple(o.name for o in _TABLE if o.score) + ("empty_distance",)

# The flags whose stem is not the option's name, per command: weightmap's short --wc (the U-Net
# paper's w_c) and compare's --metrics for the scores it compares.
FLAGS: dict[str, dict[str, str]] = {
    "weightmap": {"class_weights": "--wc", "class_weight_scheme": "--wc-scheme"},
    "compare": {"scores": "--metrics"},
}


def default(name: str, command: str | None = None):
    """The default of option ``name`` (of ``command`` where it differs there).

    >>> default("nsd_tolerance"), default("connectivity"), default("connectivity", "weightmap")
    (1.0, None, 1)
    """
    option = OPTIONS[name]
    return option.defaults.get(command, option.default) if command else option.default


def flag(name: str, command: str | None = None) -> str:
    """The CLI flag of option ``name``: its name with dashes, unless ``FLAGS`` says otherwise.

    >>> flag("nsd_tolerance"), flag("w0"), flag("class_weights", "weightmap")
    ('--nsd-tolerance', '--w0', '--wc')
    """
    return FLAGS.get(command or "", {}).get(name) or "--" + name.replace("_", "-")


def help_text(name: str, command: str | None = None) -> str:
    """The help of option ``name`` on ``command``'s page, its ``{default}`` filled in.

    >>> help_text("threshold")
    'Hard prediction = probability >= threshold \\\\[default: 0.5].'
    """
    option = OPTIONS[name]
    text = option.helps.get(command, option.help) if command else option.help
    return text.replace("{default}", f"{default(name, command):g}" if "{default}" in text else "")


# Settings record keys of the options' former names (before one name everywhere), at any depth of
# the record: a journal or a finished output written by an older segcli is read under the new ones.
FORMER_NAMES = {
    "unet_w0": "w0",
    "unet_sigma": "sigma",
    "spacing_override": "spacing",
    "object_connectivity": "connectivity",
}


# Score parameters added after settings records were first written: a record without one was
# scored before it existed, as with its default (a run resumed from it is the same run).
ADDED_PARAMETERS = ("fbeta_beta",)


def current_names(record):
    """A settings record (a dict of dicts) with every former key under its current name, and the
    score parameters added since at their defaults.

    >>> current_names({"spacing_override": None, "options": {"unet_w0": 10.0}})
    {'spacing': None, 'options': {'w0': 10.0, 'fbeta_beta': 1.0}}
    """
    renamed = _renamed(record)
    if isinstance(renamed, dict) and isinstance(renamed.get("options"), dict):
        added = {name: default(name) for name in ADDED_PARAMETERS if name not in renamed["options"]}
        renamed["options"] = renamed["options"] | added
    return renamed


def _renamed(record):
    if not isinstance(record, dict):
        return record
    return {FORMER_NAMES.get(key, key): _renamed(value) for key, value in record.items()}
