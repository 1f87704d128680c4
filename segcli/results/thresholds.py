"""The writer of a ``--thresholds`` run: long format, one record per (pair, threshold, score),
then the summary per (threshold, score) and, per score, the threshold with the best mean.

csv, tsv and jsonl stream their records as they arrive; json and the table (the mean per
threshold, and the best) need the whole run. It shares the base writer's fields, strict JSON and
CSV quoting (``segcli.results.formats``) and takes its statistics from ``segcli.results.summary``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import IO

from segcli.results.formats import (
    Format,
    ReportWriter,
    SafeCsvWriter,
    format_number,
    json_clean,
    json_value,
    rich_table,
    text_console,
)
from segcli.results.summary import STATISTICS, best_thresholds, summarize
from segcli.scores.columns import at_threshold, split_threshold


class ThresholdWriter(ReportWriter):
    """``--thresholds``: long format, one row per (pair, threshold, score), then the summary per
    (threshold, score) and, per score, the threshold with the best mean (rows named ``best``)."""

    LONG = ("name", "threshold", "score", "value")

    def __init__(self, stream: IO[str], fmt: Format, columns: Sequence[str], *, higher_is_better, **kwargs) -> None:
        super().__init__(stream, "jsonl" if fmt == "jsonl" else "table", columns, **kwargs)
        self.fmt = fmt
        self.higher_is_better = higher_is_better
        self._csv = None
        if fmt in ("csv", "tsv"):
            self._csv = SafeCsvWriter(stream, delimiter="," if fmt == "csv" else "\t")
            self._csv.writerow(self.LONG)

    def _long(self, name: str, values: dict[str, float]):
        for column in self.columns:
            score, threshold = split_threshold(column)
            yield name, threshold, score, values.get(column, math.nan)

    def write(self, name: str, values: dict[str, float], meta: dict | None = None) -> None:
        self.rows.append(values)
        self.metas.append(meta or {})
        self.names.append(name)
        for row in self._long(name, values):
            if self._csv is not None:
                self._csv.writerow([row[0], format_number(row[1]), row[2], format_number(row[3])])
            elif self.fmt == "jsonl":
                record = dict(zip(self.LONG, row, strict=True))
                record |= {"value": json_value(row[3])} | (
                    {"nonfinite": str(row[3])} if not math.isfinite(row[3]) else {}
                )
                self.stream.write(json.dumps(record, allow_nan=False) + "\n")

    def finish(self, failed: Sequence[str] = (), messages: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
        summary = summarize(self.columns, self.rows)
        best = best_thresholds(summary, self.higher_is_better)
        if self._csv is not None:
            for statistic in STATISTICS:
                for column in self.columns:
                    score, threshold = split_threshold(column)
                    self._csv.writerow(
                        [
                            f"summary:{statistic}",
                            format_number(threshold),
                            score,
                            format_number(summary[column][statistic]),
                        ]
                    )
            for score, (threshold, mean) in best.items():
                self._csv.writerow(["best", format_number(threshold), score, format_number(mean)])
        elif self.fmt in ("json", "jsonl"):
            long_summary: dict = {}
            for column in self.columns:
                score, threshold = split_threshold(column)
                long_summary.setdefault(score, {})[f"{threshold:.10g}"] = json_clean(summary[column])
            best_means = {s: {"threshold": t, "mean": json_value(m)} for s, (t, m) in best.items()}
            tail = self._tail({"summary": long_summary, "best": best_means}, failed, messages)
            if self.fmt == "jsonl":
                self.stream.write(json.dumps(tail, allow_nan=False) + "\n")
            else:
                records = [
                    dict(zip(self.LONG, (n, t, s, json_value(v)), strict=True))
                    for name, row in zip(self.names, self.rows, strict=True)
                    for n, t, s, v in self._long(name, row)
                ]
                self.stream.write(json.dumps({"records": records} | tail, allow_nan=False, indent=1) + "\n")
        else:
            scores = list(dict.fromkeys(split_threshold(c)[0] for c in self.columns))
            thresholds = list(dict.fromkeys(split_threshold(c)[1] for c in self.columns))
            console = text_console(self.stream)
            shown = thresholds if (len(thresholds) + 3) * 11 <= console.width else []
            rows = [
                [s, *best.get(s, (math.nan, math.nan)), *(summary[at_threshold(s, t)]["mean"] for t in shown)]
                for s in scores
            ]
            header = ["score", "best threshold", "best mean", *(f"{t:.10g}" for t in shown)]
            console.print(rich_table("mean per threshold", header, rows))
        self.stream.flush()
        return summary
