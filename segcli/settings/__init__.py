"""Every option of segcli, in one place: its one name, default, help text, range check, the flag
the CLI spells it with, and the settings a run is built from.

``options`` is the table (``OPTIONS``, ``default``, ``flag``, ``help_text``); ``run`` holds
``ScoreOptions`` (the parameters the scores take) and ``ScoreSettings`` (what to compute and how
to read the inputs), both checked when built, the library's errors naming an option as the Python
API spells it (``InvalidOption``), which the CLI turns into its flag with ``flag``; ``build``
turns named values into the ``ScoreSettings`` of a run (``build_settings``, for the CLI and the
API alike); ``unused`` is the one rule that says which given options do nothing in a run;
``legacy`` reads settings records written under the options' former names. Numbers may be given
as numpy scalars, 0-dim arrays or 0-dim tensors: ``plain_number`` turns them into the Python
numbers they hold. Neither numpy nor torch is imported here (``segcli --help`` reads this table).

A base package: every stage may import it, and it imports nothing of segcli but ``errors``.
"""

from segcli.settings.options import (
    FLAGS,
    FORMER_NAMES,
    OPTIONS,
    SCORE_PARAMETERS,
    Option,
    current_names,
    default,
    flag,
    help_text,
)
from segcli.settings.run import NUMBER_OPTIONS, SMOOTH, PredKind, ScoreOptions, ScoreSettings, validate_settings
from segcli.settings.values import (
    EMPTY_DISTANCE_POLICIES,
    FLOAT32_MAX,
    MAX_CLASSES,
    SPACING_RANGE,
    check_finite,
    empty_distance_policy,
    is_number,
    is_number_array,
    plain_number,
)

__all__ = [
    "EMPTY_DISTANCE_POLICIES",
    "FLAGS",
    "FLOAT32_MAX",
    "FORMER_NAMES",
    "MAX_CLASSES",
    "NUMBER_OPTIONS",
    "OPTIONS",
    "SCORE_PARAMETERS",
    "SMOOTH",
    "SPACING_RANGE",
    "Option",
    "PredKind",
    "ScoreOptions",
    "ScoreSettings",
    "check_finite",
    "current_names",
    "default",
    "empty_distance_policy",
    "flag",
    "help_text",
    "is_number",
    "is_number_array",
    "plain_number",
    "validate_settings",
]
