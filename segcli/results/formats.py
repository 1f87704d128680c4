"""Writing score records and their summary: table, csv, tsv, json, jsonl.

Records stream out as they arrive for csv, tsv and jsonl; json and the table need the whole run.
Each record holds the scores, then how its pair was read (``META_COLUMNS``); strict JSON writes
null for a non-finite value and a ``nonfinite`` object says which it was; CSV quotes a field with a
carriage return. The statistics come from ``segcli.results.summary``; a ``--thresholds`` run's
long format is ``segcli.results.thresholds``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from typing import IO, Literal

from segcli.results.summary import STATISTICS, summarize

Format = Literal["table", "csv", "tsv", "json", "jsonl"]
FORMATS: tuple[str, ...] = ("table", "csv", "tsv", "json", "jsonl")
# How each pair was read, after its scores in every record (empty in the summary rows).
META_COLUMNS = ("pred_kind", "spacing", "spacing_source", "pred_path", "gt_path")


def json_value(value: float | int | str | None) -> float | int | str | None:
    """Strict JSON: non-finite floats become null (``nonfinite`` says which of inf, -inf, nan)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def nonfinite(values: dict) -> dict[str, str]:
    """Which values are not finite, as ``"inf"``, ``"-inf"`` or ``"nan"``: JSON writes them all
    as null, and this tells them apart.

    >>> nonfinite({"hd": float("inf"), "dice": 0.5, "nsd": float("nan")})
    {'hd': 'inf', 'nsd': 'nan'}
    """
    return {k: str(v) for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)}


def format_spacing(spacing) -> str:
    """Spacing as one text field: ``2x0.5x0.5``."""
    return "x".join(format_number(float(v)) for v in spacing) if spacing else ""


def json_clean(obj):
    """``obj`` with every non-finite float inside its dicts, lists and tuples made null (``json_value``)."""
    if isinstance(obj, dict):
        return {k: json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    return json_value(obj)


def format_number(value: float) -> str:
    """Text formats write ``inf`` / ``nan`` and up to 10 significant digits."""
    if isinstance(value, int):
        return str(value)
    return f"{value:.10g}"


class SafeCsvWriter:
    """``csv.writer`` rows ending in a newline, where a field that holds a carriage return is
    quoted too: csv quotes only the line terminator's characters, so a name with a bare CR would
    otherwise split its row for every CSV reader (and could forge one, e.g. a summary row).

    >>> import io
    >>> out = io.StringIO()
    >>> SafeCsvWriter(out).writerow(["a\\rsummary:mean", "1"])
    >>> out.getvalue()
    '"a\\rsummary:mean","1"\\n'
    """

    def __init__(self, stream: IO[str], delimiter: str = ",") -> None:
        self._plain = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self._quoted = csv.writer(stream, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Sequence) -> None:
        carriage_return = any(isinstance(cell, str) and "\r" in cell for cell in row)
        (self._quoted if carriage_return else self._plain).writerow(row)

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)


class ReportWriter:
    """Writes records as they come and the summary at the end, in one format, to one stream.

    ``meta_columns`` (``META_COLUMNS`` for ``score``) follow the scores in every record: how the
    pair was read. In JSON every record and summary entry holding a non-finite value gets a
    ``nonfinite`` object naming it (``{"hd95": "inf"}``), since strict JSON writes null for all.
    """

    def __init__(
        self,
        stream: IO[str],
        fmt: Format,
        columns: Sequence[str],
        *,
        settings: dict | None = None,
        meta_columns: Sequence[str] = (),
        confidence: float | None = None,
        n_resamples: int | None = None,
        seed: int | None = None,
        empty_distance: str | float = "inf",
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format: expected one of {FORMATS}, got {fmt!r}")
        self.stream = stream
        self.fmt = fmt
        self.columns = list(columns)
        self.meta_columns = list(meta_columns)
        self.settings = settings or {}
        # With a confidence level the summary adds ci_low / ci_high (bootstrap of the mean);
        # interval_notes then says why a column has none.
        self.confidence = confidence
        self.n_resamples = n_resamples
        self.seed = seed
        self.interval_notes: dict[str, str] = {}
        self.unit_note = ""  # e.g. "distances in mm", in the table's title
        # With an --empty-distance policy other than inf, the summary counts the replaced distances
        # per column (n_empty_distance); under nan they are left out of the statistics.
        self.empty_distance = empty_distance
        self.statistics = (
            STATISTICS
            + (("ci_low", "ci_high") if confidence is not None else ())
            + (("n_empty_distance",) if empty_distance != "inf" else ())
        )
        self.rows: list[dict[str, float]] = []
        self.metas: list[dict] = []
        self.names: list[str] = []
        self._csv = None
        if fmt in ("csv", "tsv"):
            self._csv = SafeCsvWriter(stream, delimiter="," if fmt == "csv" else "\t")
            self._csv.writerow(["name", *self.columns, *self.meta_columns])

    def _record(self, name: str, values: dict[str, float], meta: dict) -> dict:
        scores = {c: values.get(c, math.nan) for c in self.columns}
        record = {"name": name} | {c: json_value(v) for c, v in scores.items()}
        record |= {c: meta.get(c) for c in self.meta_columns}
        odd = nonfinite(scores)
        if odd:
            record["nonfinite"] = odd
        return record

    def write(self, name: str, values: dict[str, float], meta: dict | None = None) -> None:
        meta = meta or {}
        self.rows.append(values)
        self.metas.append(meta)
        self.names.append(name)
        if self._csv is not None:
            self._csv.writerow(
                [
                    name,
                    *(format_number(values.get(c, math.nan)) for c in self.columns),
                    *(_meta_text(c, meta.get(c)) for c in self.meta_columns),
                ]
            )
        elif self.fmt == "jsonl":
            self.stream.write(json.dumps(self._record(name, values, meta), allow_nan=False) + "\n")

    def finish(self, failed: Sequence[str] = (), messages: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
        """The summary; in JSON also ``failed`` (names) and, given ``messages``, ``failures``
        (each failed pair's name and message)."""
        rows = self.rows
        if self.empty_distance == "nan":
            rows = [
                {k: v for k, v in row.items() if k not in meta.get("empty_distance", ())}
                for row, meta in zip(self.rows, self.metas, strict=True)
            ]
        summary = summarize(self.columns, rows)
        if self.confidence is not None:
            self._add_intervals(summary, rows)
        if self.empty_distance != "inf":
            for column in self.columns:
                summary[column]["n_empty_distance"] = sum(column in m.get("empty_distance", ()) for m in self.metas)
        if self._csv is not None:
            for statistic in self.statistics:
                self._csv.writerow(
                    [
                        f"summary:{statistic}",
                        *(format_number(summary[c][statistic]) for c in self.columns),
                        *([""] * len(self.meta_columns)),
                    ]
                )
        elif self.fmt in ("jsonl", "json"):
            json_summary = {c: json_clean(stats) | _nonfinite_entry(stats) for c, stats in summary.items()}
            tail = self._tail({"summary": json_summary}, failed, messages)
            if self.fmt == "jsonl":
                self.stream.write(json.dumps(tail, allow_nan=False) + "\n")
            else:
                images = [
                    self._record(n, row, meta) for n, row, meta in zip(self.names, self.rows, self.metas, strict=True)
                ]
                self.stream.write(json.dumps({"images": images} | tail, allow_nan=False, indent=1) + "\n")
        else:
            self._table(summary)
        self.stream.flush()
        return summary

    def _tail(self, head: dict, failed: Sequence[str], messages: dict[str, str] | None) -> dict:
        """The JSON summary object: ``head``, then the failed pairs (names, and with ``messages``
        each one's message), then the settings."""
        tail = head | {"failed": list(failed)}
        if messages is not None:
            tail["failures"] = [{"name": name, "message": messages.get(name, "")} for name in failed]
        return tail | {"settings": json_clean(self.settings)}

    def _add_intervals(self, summary: dict[str, dict[str, float]], rows: list[dict[str, float]]) -> None:
        from segcli.results.intervals import N_RESAMPLES, SEED, mean_intervals

        intervals = mean_intervals(
            {c: [row[c] for row in rows if c in row] for c in self.columns},
            confidence=self.confidence,
            n_resamples=N_RESAMPLES if self.n_resamples is None else self.n_resamples,
            seed=SEED if self.seed is None else self.seed,
        )
        for column, (low, high, reason) in intervals.items():
            summary[column] |= {"ci_low": low, "ci_high": high}
            if reason:
                self.interval_notes[column] = reason

    def _table(self, summary: dict[str, dict[str, float]]) -> None:
        """Per-image scores and the summary as rich tables. Too many scores for one row per image
        on this terminal: the per-image table is transposed (a row per score), a few images a table."""

        console = text_console(self.stream)
        cell = 12
        if (len(self.columns) + 1) * cell <= console.width or not self.rows:
            rows = [
                [name, *(row.get(c, math.nan) for c in self.columns)]
                for name, row in zip(self.names, self.rows, strict=True)
            ]
            console.print(rich_table("per image", ["name", *self.columns], rows))
        else:
            per_table = max(1, (console.width - 22) // cell)
            for start in range(0, len(self.names), per_table):
                rows = self.rows[start : start + per_table]
                transposed = [[c, *(row.get(c, math.nan) for row in rows)] for c in self.columns]
                console.print(rich_table("per image", ["score", *self.names[start : start + per_table]], transposed))
        rows = [[c, *(summary[c][s] for s in self.statistics)] for c in self.columns]
        title = f"summary ({self.unit_note})" if self.unit_note else "summary"
        console.print(rich_table(title, ["score", *self.statistics], rows))


def text_console(stream):
    """A rich console on ``stream``: the terminal's width there (or ``COLUMNS``); written to a file,
    wide enough that no value is cut short."""
    import os

    from rich.console import Console

    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    if is_terminal or os.environ.get("COLUMNS"):  # a width asked for is kept
        return Console(file=stream)
    return Console(file=stream, width=100_000)


def _meta_text(column: str, value) -> str:
    if value is None:
        return ""
    if column == "spacing":
        return format_spacing(value)
    return str(value)


def _nonfinite_entry(stats: dict) -> dict:
    odd = nonfinite(stats)
    return {"nonfinite": odd} if odd else {}


def rich_table(title: str, header: Sequence[str], rows: Sequence[Sequence]):
    """A rich table: the first column is a label, the others numbers (6 significant digits)."""
    from rich.table import Table

    from segcli.display import plain

    table = Table(title=plain(title))
    table.add_column(plain(header[0]))
    for name in header[1:]:
        table.add_column(plain(name), justify="right")
    for label, *values in rows:
        table.add_row(plain(label), *(f"{v:.6g}" for v in values))
    return table
