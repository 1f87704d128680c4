"""Comparing two scoring runs case by case: is B better than A, and is the difference real?

Cases are paired by name. Per score: the mean paired difference B - A with its bootstrap interval
(``segcli.results.intervals``, the same BCa interval as every summary), the Wilcoxon signed-rank test
(scipy's defaults) with Holm's correction across the scores compared, wins / ties / losses by the
score's direction (``direction``: a count or a column segcli does not know has none, and no
wins / ties / losses), and the cases that changed most. Differences that are not finite (inf - inf,
inf - 3) are left out of the mean, the interval and the test, and counted. Values equal to a
relative 1e-9 (what the 10 significant digits of CSV keep) are ties, with a difference of 0.
A score named twice in ``scores`` is compared once (it would otherwise count twice in Holm's
correction); an empty ``scores``, a name not in both runs, or runs without a score in common is a
usage error.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segcli.errors import InputError, InvalidOption, UsageError
from segcli.inputs.regular import not_regular
from segcli.results.formats import META_COLUMNS
from segcli.results.outputs import TEXT_ERRORS
from segcli.results.summary import STATISTICS
from segcli.scores.columns import at_threshold, direction
from segcli.settings import current_names

# The columns of a comparison, one row per score (``most_changed`` is a list in JSON, text in CSV;
# ``better`` last, so that the columns before it keep their places).
COMPARE_COLUMNS = (
    "score",
    "n_cases",
    "mean_a",
    "mean_b",
    "mean_diff",
    "ci_low",
    "ci_high",
    "wilcoxon_statistic",
    "p_value",
    "p_holm",
    "wins",
    "ties",
    "losses",
    "n_nonfinite_diff",
    "most_changed",
    "better",  # the score's direction (``direction``): higher, lower, none or unknown
)
N_MOST_CHANGED = 5
TIE_RTOL = 1e-9  # relative: CSV/TSV keep 10 significant digits


@dataclass
class ScoreTable:
    """One run's per-case scores (``values[name][column]``) and its settings, if the file has them."""

    path: str
    columns: list[str]
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    settings: dict | None = None


def read_results(path: Path) -> ScoreTable:
    """Read what ``segcli score`` wrote: CSV, TSV, JSON or JSONL (by extension, else by content)."""
    path = Path(path)
    if (kind := not_regular(path)) is not None:
        raise InputError(f"{path}: is {kind}, not a regular file")
    try:
        # a name that is not UTF-8 was written as its own bytes (segcli.results.outputs.TEXT_ERRORS);
        # line ends as they are: a carriage return inside a quoted CSV name is part of the name
        with open(path, encoding="utf-8", errors=TEXT_ERRORS, newline="") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file or directory") from None  # as score's missing PRED / GT
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    suffix = path.suffix.lower()
    stripped = text.lstrip()
    if suffix == ".jsonl" or (suffix not in (".json", ".csv", ".tsv") and stripped.startswith('{"name"')):
        from segcli.results.read_back import RunResults

        run = RunResults.from_jsonl(path)
        table = ScoreTable(str(path), run.columns, settings=run.settings)
        _no_duplicates(path, run.names)
        table.values = dict(zip(run.names, run.rows, strict=True))
        return table
    if suffix == ".json" or stripped.startswith("{"):
        return _read_json(path, text)
    # the first line decides (an empty file has none: "empty file", not an IndexError)
    return _read_delimited(path, text, "\t" if suffix == ".tsv" or "\t" in text.partition("\n")[0] else ",")


def _read_json(path: Path, text: str) -> ScoreTable:
    document = None
    try:
        document = json.loads(text)
        images, summary = document["images"], document["summary"]
    except (ValueError, KeyError, TypeError):
        if isinstance(document, dict) and "records" in document and "best" in document:
            # JSON writes inf and nan alike as null (JSONL says which): reading it would guess
            raise InputError(
                f"{path}: the JSON of a --thresholds run writes inf and nan alike as null; "
                "compare its JSONL or CSV/TSV output instead"
            ) from None
        raise InputError(f"{path}: not the JSON of segcli score (images, summary, settings)") from None
    from segcli.results.read_back import nonfinite_of, record_name, refuse, score_value

    # the shapes segcli writes, or one line naming what is not (never a crash)
    if not isinstance(summary, dict):
        refuse(path, "the document", "summary", summary, "an object (per score: its statistics)")
    if not isinstance(images, list):
        refuse(path, "the document", "images", images, "a list of records")
    settings = document.get("settings")
    if settings is not None and not isinstance(settings, dict):
        refuse(path, "the document", "settings", settings, "an object (the run's settings)")
    table = ScoreTable(str(path), list(summary), settings=settings)
    names = []
    for index, record in enumerate(images):
        where = f"images[{index}]"
        if not isinstance(record, dict) or "name" not in record:
            refuse(path, "the document", where, record, "a record (an object with a name)")
        names.append(record_name(path, where, record))
    _no_duplicates(path, names)
    for index, (name, record) in enumerate(zip(names, images, strict=True)):
        where = f"images[{index}]"
        odd = nonfinite_of(path, where, record.get("nonfinite", {}))
        table.values[name] = {c: score_value(path, where, c, record.get(c), odd.get(c)) for c in table.columns}
    return table


def summary_layouts() -> tuple[tuple[str, ...], ...]:
    """The names of the summary rows ``segcli score`` ends a CSV/TSV with, one tuple per layout:
    the statistics, then ``ci_low``, ``ci_high`` (``--ci``), then ``n_empty_distance``
    (``--empty-distance`` other than inf)."""
    base = tuple(STATISTICS)
    layouts = (base, (*base, "ci_low", "ci_high"), (*base, "n_empty_distance"),
               (*base, "ci_low", "ci_high", "n_empty_distance"))  # fmt: skip
    return tuple(tuple(f"summary:{s}" for s in layout) for layout in layouts)


def _read_delimited(path: Path, text: str, delimiter: str) -> ScoreTable:
    """A CSV/TSV run: the header, one row per case, then the summary rows. The summary is the
    trailing block whose names are exactly one of ``summary_layouts()``, so a case named
    ``summary:mean`` before it is a case; a ``summary:`` row outside such a block (a file cut
    short, or edited) could be either, and is refused rather than guessed."""
    # csv on the text itself: only \n, \r and \r\n end a row, and a quoted field may hold them
    # (str.splitlines would also split at \x0c, \x1c-\x1e, \x85, \u2028, \u2029 in a name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: empty file") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a CSV/TSV table ({exc})") from None
    if not header or header[0] != "name":
        raise InputError(f"{path}: not a segcli score table (its first column must be 'name')")
    long = tuple(header) == LONG_HEADER
    columns = [c for c in header[1:] if c not in META_COLUMNS]
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if row:
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num}: not a CSV/TSV row ({exc})") from None
    if long:
        return _read_long(path, rows)
    names = [row[0] for _, row in rows]
    summary = next((n for n in map(len, summary_layouts()) if tuple(names[-n:]) in summary_layouts()), 0)
    if summary:
        rows = rows[:-summary]
    table = ScoreTable(str(path), columns)
    for number, row in rows:
        if not summary and row[0].startswith("summary:"):
            raise InputError(
                f"{path}: line {number}: {row[0]!r} is a case name or a summary row, and the file does not end "
                "with segcli's summary rows to tell which; compare needs it as segcli score wrote it"
            )
        if row[0] in table.values:
            raise InputError(f"{path}: case {row[0]!r} appears twice (concatenated runs?); compare needs one each")
        record = dict(zip(header, row, strict=False))
        try:
            table.values[row[0]] = {c: float(record[c]) if record.get(c, "") != "" else math.nan for c in columns}
        except ValueError:
            raise InputError(f"{path}: line {number} holds a value that is not a number") from None
    return table


LONG_HEADER = ("name", "threshold", "score", "value")  # the CSV/TSV of ``segcli score --thresholds``


def _read_long(path: Path, rows: list[tuple[int, list[str]]]) -> ScoreTable:
    """A ``--thresholds`` run's CSV/TSV: one row per (case, threshold, score), then the summary
    rows (``summary:<statistic>`` for every threshold and score, one layout of
    ``summary_layouts()``), then at most one ``best`` row per score. The columns are
    ``<score>@<threshold>`` (threshold to 10 significant digits), score by score, as the JSONL of
    the same run reads (``segcli.results.read_back.RunResults``). A ``best`` or ``summary:`` row without
    that closing block is refused, as in the wide table."""
    parsed = []  # (line, name, score, column, value)
    for number, row in rows:
        if len(row) != len(LONG_HEADER):
            raise InputError(
                f"{path}: line {number}: expected 4 fields (name, threshold, score, value), got {len(row)}"
            )
        name, threshold, score, value = row
        try:
            at = float(threshold)
        except ValueError:
            at = math.nan
        if not math.isfinite(at) or not score:
            raise InputError(f"{path}: line {number}: not a threshold and a score ({threshold!r}, {score!r})")
        try:
            number_value = float(value) if value != "" else math.nan
        except ValueError:
            raise InputError(f"{path}: line {number} holds a value that is not a number") from None
        parsed.append((number, name, score, at_threshold(score, at), number_value))
    end = len(parsed)
    while end and parsed[end - 1][1] == "best":
        end -= 1
    of_score = {column: score for _, _, score, column, _ in parsed[:end]}
    scores = list(dict.fromkeys(of_score.values()))
    columns = sorted(of_score, key=lambda c: scores.index(of_score[c]))  # stable: thresholds in file order
    names = [name for _, name, *_ in parsed[:end]]
    summary = 0
    for layout in summary_layouts():
        n = len(layout) * len(columns)
        if columns and n <= end and names[end - n : end] == [s for s in layout for _ in columns]:
            summary = n
            break
    if not summary:  # then every row is a case's, and a name of score's closing rows is ambiguous
        for number, name, *_ in parsed:
            if name == "best" or name.startswith("summary:"):
                raise InputError(
                    f"{path}: line {number}: {name!r} is a case name or a summary row, and the file does not end "
                    "with segcli's summary rows to tell which; compare needs it as segcli score wrote it"
                )
    table = ScoreTable(str(path), columns)
    seen: set[tuple[str, str]] = set()
    for _, name, _, column, value in parsed[: end - summary]:
        if (name, column) in seen:
            raise InputError(f"{path}: case {name!r} has {column} twice (concatenated runs?); compare needs one each")
        seen.add((name, column))
        table.values.setdefault(name, dict.fromkeys(columns, math.nan))[column] = value
    return table


def _no_duplicates(path: Path, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{path}: case {name!r} appears twice (concatenated runs?); compare needs one each")
        seen.add(name)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test).

    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    tested = np.flatnonzero(~np.isnan(p))
    adjusted = np.full(p.shape, np.nan)
    m = tested.size
    running = 0.0
    for rank, index in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return [float(v) for v in adjusted]


def settings_differences(a: dict | None, b: dict | None) -> list[str]:
    """Settings that differ between two runs (device and memory budget never change a value);
    a run written by an older segcli is read under today's option names (``current_names``).

    >>> settings_differences({"options": {"unet_w0": 10.0}}, {"options": {"w0": 10.0, "fbeta_beta": 1.0}})
    []
    """
    if a is None or b is None:
        return []
    a, b = current_names(a), current_names(b)

    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in d.items():
            if isinstance(value, dict):
                out |= flat(value, f"{prefix}{key}.")
            elif key not in ("device", "max_memory"):
                out[f"{prefix}{key}"] = value
        return out

    fa, fb = flat(a), flat(b)
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


def compare(a: ScoreTable, b: ScoreTable, *, scores: Sequence[str] | None = None) -> tuple[list[dict], dict]:
    """One row per score common to both runs (or the ``scores`` named, each once however often it
    is named), and what was paired: ``{"paired": [...], "only_a": [...], "only_b": [...]}``.
    ``scores`` empty, or naming a score not in both runs: ``InvalidOption`` (a usage error); runs
    without a score in common: ``UsageError``."""
    paired = sorted(a.values.keys() & b.values.keys())
    pairing = {"paired": paired, "only_a": sorted(a.values.keys() - b.values.keys()),
               "only_b": sorted(b.values.keys() - a.values.keys())}  # fmt: skip
    rows = [_compare_score(a, b, column, paired) for column in _chosen_scores(a, b, scores)]
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        row["p_holm"] = adjusted
    return [{c: row[c] for c in COMPARE_COLUMNS} for row in rows], pairing


def _chosen_scores(a: ScoreTable, b: ScoreTable, scores: Sequence[str] | None) -> list[str]:
    """The scores to compare: every one both runs have, or those of ``scores``, each once."""
    common = [c for c in a.columns if c in b.columns]
    # Runs without a score in common: a usage error (exit 2), as a score named that is not in both.
    disjoint = f"{a.path} and {b.path} have no score in common ({', '.join(a.columns)} / {', '.join(b.columns)})"
    if scores is not None:
        chosen = list(dict.fromkeys(scores))  # once each: a score named twice would count twice in Holm's
        if not chosen:
            raise InvalidOption("scores", "no score named (None compares every score both runs have)")
        missing = [s for s in chosen if s not in common]
        if missing:
            raise InvalidOption(
                "scores",
                f"score(s) not in both runs: {', '.join(missing)}; "
                + (f"common: {', '.join(common)}" if common else disjoint),
            )
        common = chosen
    if not common:
        raise UsageError(disjoint)
    return common


def _compare_score(a: ScoreTable, b: ScoreTable, column: str, paired: list[str]) -> dict:
    """One score's row (``p_holm`` aside, which needs every score's p-value)."""
    from scipy import stats

    from segcli.results.intervals import mean_intervals

    va = np.array([a.values[n].get(column, math.nan) for n in paired], dtype=np.float64)
    vb = np.array([b.values[n].get(column, math.nan) for n in paired], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        diff = vb - va
        # Equal to the 10 significant digits CSV keeps: a tie, whatever format each run was read from.
        tie = (va == vb) | np.isclose(va, vb, rtol=TIE_RTOL, atol=0.0)
    diff[tie & np.isfinite(va)] = 0.0  # inf - inf stays nan: left out of the test, counted
    finite = np.isfinite(diff)
    d = diff[finite]
    way = direction(column)
    better = ((vb > va) if way == "higher" else (vb < va)) & ~tie
    worse = ((vb < va) if way == "higher" else (vb > va)) & ~tie
    comparable = ~(np.isnan(va) | np.isnan(vb))
    counted = way in ("higher", "lower")  # else no verdict: wins / ties / losses are None
    statistic = p_value = math.nan
    if d.size and np.any(d != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.wilcoxon(d)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    low, high, _ = mean_intervals({column: d})[column] if d.size else (math.nan, math.nan, "")
    order = np.argsort(-np.abs(np.where(finite, diff, 0.0)), kind="stable")
    most = [(paired[i], float(diff[i])) for i in order[:N_MOST_CHANGED] if finite[i] and diff[i] != 0]
    with np.errstate(invalid="ignore"):
        return {
            "score": column,
            "better": way,
            "n_cases": int(finite.sum()),
            "mean_a": float(np.mean(va[finite])) if d.size else math.nan,
            "mean_b": float(np.mean(vb[finite])) if d.size else math.nan,
            "mean_diff": float(np.mean(d)) if d.size else math.nan,
            "ci_low": low,
            "ci_high": high,
            "wilcoxon_statistic": statistic,
            "p_value": p_value,
            "wins": int(np.sum(better & comparable)) if counted else None,
            "ties": int(np.sum(tie & comparable)) if counted else None,
            "losses": int(np.sum(worse & comparable)) if counted else None,
            "n_nonfinite_diff": int((~finite).sum()),
            "most_changed": most,
        }
