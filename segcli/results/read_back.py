"""A scoring run read back from the JSON lines ``segcli score`` wrote (``RunResults``), for the
HTML report and ``segcli compare``: what segcli writes is read, anything else is refused in one
line naming the file, the line and the field (a score that is not a number or null, a summary of
another shape, a record after the summary line), never guessed at.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from segcli.errors import InputError
from segcli.inputs.regular import not_regular
from segcli.scores.columns import at_threshold


@dataclass
class RunResults:
    """What a scoring run produced: per-pair scores and how each pair was read, failures, settings."""

    columns: list[str]
    names: list[str] = field(default_factory=list)
    rows: list[dict[str, float]] = field(default_factory=list)
    metas: list[dict] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @classmethod
    def from_jsonl(cls, path: Path) -> RunResults:
        """Read what ``segcli score --format jsonl`` wrote (records, then the summary line).

        Anything else is refused, one ``InputError`` naming the file, the line and what is wrong
        (never guessed at, never a crash): a line that is not a JSON object, a record after the
        summary line, a score that is not a number or null (``"0.9"`` included), a summary, failed
        list, failures or settings of another shape than segcli writes."""
        path = Path(path)
        if (kind := not_regular(path)) is not None:
            raise InputError(f"{path}: is {kind}, not a regular file")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
        records, tail, tail_line = [], None, 0
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                raise InputError(f"{path}: line {number} is not JSON (expected segcli score's jsonl)") from None
            if not isinstance(entry, dict):
                raise InputError(f"{path}: line {number} is not a record")
            if tail is not None:
                name = entry.get("name")
                again = isinstance(name, str) and any(record.get("name") == name for _, record in records)
                raise InputError(
                    (f"{path}: case {name!r} appears twice, " if again else f"{path}: ")
                    + f"line {number} comes after the summary line (line {tail_line}); segcli score writes "
                    "the summary last (runs joined together?)"
                )
            if "summary" in entry and "name" not in entry:
                tail, tail_line = entry, number
            elif "name" in entry:
                records.append((number, entry))
            else:
                raise InputError(f"{path}: line {number} is neither a record nor the summary")
        if tail is None:
            raise InputError(f"{path}: no summary line (an unfinished run? write it with segcli score -o X.jsonl)")
        _check_tail(path, f"line {tail_line}", tail)
        from segcli.results.formats import META_COLUMNS

        if "best" in tail:  # --thresholds: long records (name, threshold, score, value)
            return cls._from_long(path, records, tail)
        columns = list(tail["summary"])
        results = cls(columns=columns, settings=tail.get("settings", {}))
        for number, record in records:
            where = f"line {number}"
            name = record_name(path, where, record)
            odd = nonfinite_of(path, where, record.get("nonfinite", {}))
            results.names.append(name)
            results.rows.append({c: score_value(path, where, c, record.get(c), odd.get(c)) for c in columns})
            results.metas.append({k: record[k] for k in (*META_COLUMNS, "pred_path", "gt_path") if k in record})
        results.failures = _failures(tail)
        return results

    @classmethod
    def _from_long(cls, path: Path, records: list[tuple[int, dict]], tail: dict) -> RunResults:
        """Wide columns ``<score>@<threshold>`` from the long records of a --thresholds run."""
        columns = [f"{score}@{t}" for score, by_t in tail["summary"].items() for t in by_t]
        results = cls(columns=columns, settings=tail.get("settings", {}))
        rows: dict[str, dict[str, float]] = {}
        for number, record in records:
            where = f"line {number}"
            name = record_name(path, where, record)
            score, threshold = record.get("score"), record.get("threshold")
            if not isinstance(score, str):
                refuse(path, where, "score", score, "a score's name")
            if not _is_number(threshold) or not math.isfinite(_float_or_inf(threshold)):
                refuse(path, where, "threshold", threshold, "a finite number")
            odd = record.get("nonfinite")
            if odd not in (None, "inf", "-inf", "nan"):
                refuse(path, where, "nonfinite", odd, '"inf", "-inf" or "nan" (what the null value is)')
            value = score_value(path, where, "value", record.get("value"), odd)
            rows.setdefault(name, {})[at_threshold(score, threshold)] = value
        for name, values in rows.items():
            results.names.append(name)
            results.rows.append(values)
            results.metas.append({})
        results.failures = _failures(tail)
        return results

    def at_threshold(self, threshold: float) -> RunResults:
        """The scores at one threshold of a --thresholds run, under their plain names."""
        from segcli.scores.columns import split_threshold

        keep = {c: split_threshold(c)[0] for c in self.columns if split_threshold(c)[1] == threshold}
        rows = [{keep[c]: v for c, v in row.items() if c in keep} for row in self.rows]
        settings = self.settings | {"threshold": threshold}  # thumbnails cut at this threshold
        return RunResults(list(keep.values()), list(self.names), rows, list(self.metas), self.failures, settings)


# --- reading a run back: what segcli score writes, and nothing else -----------------------------


def _shown(value) -> str:
    """A JSON value as it stood in the file, cut short for a one-line message."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    return text if len(text) <= 40 else text[:37] + "..."


def refuse(path: Path, where: str, field: str, value, expected: str) -> NoReturn:
    """One line naming the file, the line, the field and what segcli writes there."""
    raise InputError(
        f"{path}: {where}: {json.dumps(field, ensure_ascii=False)} is {_shown(value)} "
        f"where segcli score writes {expected}"
    )


def _is_number(value) -> bool:
    """A JSON number (``true`` / ``false`` are not, though Python counts them as ints)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _float_or_inf(value: int | float) -> float:
    """A JSON number as a float; an integer too large for one (400 digits) as inf."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def record_name(path: Path, where: str, record: dict) -> str:
    name = record["name"]
    if not isinstance(name, str):
        refuse(path, where, "name", name, "a pair's name (a string)")
    return name


def nonfinite_of(path: Path, where: str, odd) -> dict[str, str]:
    """A record's ``nonfinite`` object: which of its null values are inf, -inf or nan."""
    if not isinstance(odd, dict):
        refuse(path, where, "nonfinite", odd, "an object naming the scores that are inf, -inf or nan")
    for column, word in odd.items():
        if word not in ("inf", "-inf", "nan"):
            refuse(path, where, f"nonfinite.{column}", word, '"inf", "-inf" or "nan"')
    return odd


def score_value(path: Path, where: str, column: str, value, odd: str | None) -> float:
    """One score of a record as a float: a JSON number, or null (nan, or what ``nonfinite``
    says: segcli writes inf, -inf and nan as null and names them there). A string, even a
    numeric one, is refused, as is a number that ``nonfinite`` contradicts."""
    if value is None:
        return float(odd) if odd is not None else math.nan
    if not _is_number(value):
        refuse(path, where, column, value, "a number or null")
    if odd is not None:
        refuse(path, where, column, value, f"null (its nonfinite entry says {odd})")
    try:
        return float(value)
    except OverflowError:  # an integer of 400 digits
        refuse(path, where, column, value, "a number a float can hold")


def _check_tail(path: Path, where: str, tail: dict) -> None:
    """The summary line: ``summary`` an object of objects (per score; with --thresholds, per score
    and threshold), ``best`` (--thresholds) an object, ``failed`` a list of names, ``failures`` a
    list of ``{"name", "message"}``, ``settings`` an object."""
    summary = tail["summary"]
    long = "best" in tail
    if not isinstance(summary, dict):
        refuse(path, where, "summary", summary, "an object (per score: its statistics)")
    for column, entry in summary.items():
        if not isinstance(entry, dict):
            what = "an object (per threshold: its statistics)" if long else "an object (its statistics)"
            refuse(path, where, f"summary.{column}", entry, what)
        if long:
            for threshold, stats in entry.items():
                try:
                    at = float(threshold)
                except ValueError:
                    at = math.nan
                if not math.isfinite(at):
                    refuse(path, where, f"summary.{column}", threshold, "a threshold (a number)")
                if not isinstance(stats, dict):
                    refuse(path, where, f"summary.{column}.{threshold}", stats, "an object (its statistics)")
    if long and not isinstance(tail["best"], dict):
        refuse(path, where, "best", tail["best"], "an object (per score: the best threshold)")
    failed = tail.get("failed", [])
    if not isinstance(failed, list):
        refuse(path, where, "failed", failed, "a list of the failed pairs' names")
    for index, name in enumerate(failed):
        if not isinstance(name, str):
            refuse(path, where, f"failed[{index}]", name, "a failed pair's name (a string)")
    failures = tail.get("failures", [])
    if not isinstance(failures, list):
        refuse(path, where, "failures", failures, 'a list of {"name", "message"}')
    for index, entry in enumerate(failures):
        if not (
            isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("message"), str)
        ):
            refuse(path, where, f"failures[{index}]", entry, 'a {"name", "message"} of a failed pair')
    settings = tail.get("settings", {})
    if not isinstance(settings, dict):
        refuse(path, where, "settings", settings, "an object (the run's settings)")


def _failures(tail: dict) -> list[tuple[str, str]]:
    """(name, message) of each failed pair of a checked summary line."""
    messages = {f["name"]: f["message"] for f in tail.get("failures", [])}
    return [(name, messages.get(name, "")) for name in tail.get("failed", [])]
