"""One self-contained HTML page for a scoring run: provenance, summary with intervals, the
distribution of every score, per-class results, the worst cases with thumbnails
(``segcli.results.thumbnails``), failed pairs.

Everything is inlined (plots and thumbnails as PNG data URIs, styles in the page): the file works
offline, from an e-mail attachment, and names no external address. Each section has its builder
here; the plots are drawn by ``segcli.results.plots``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segcli.errors import UsageError
from segcli.results.plots import distribution_plot, per_class_plot, plot_html, png_uri, threshold_plot
from segcli.results.read_back import RunResults
from segcli.results.thumbnails import CONTOUR_GT, CONTOUR_PRED, TINT_FN, TINT_FP, case_thumbnail
from segcli.scores.columns import split_class

N_WORST = 10


def split_column(column: str) -> tuple[str, str | None]:
    """``dice_liver`` -> (``dice``, ``liver``); a score's own name -> (name, None)."""
    return split_class(column)


def family(column: str) -> str:
    """The report section a column is drawn in: its score's family (region, surface, losses,
    objects), or ``other`` for a column no row writes."""
    from segcli.scores.table import BY_NAME, COMBINED, MULTICLASS_BY_NAME, OBJECT_BY_NAME, lookup

    base, _ = split_class(column)
    rows = MULTICLASS_BY_NAME | BY_NAME | OBJECT_BY_NAME | {COMBINED: lookup(COMBINED)}
    return rows[base].family if base in rows else "other"


def higher_is_better(column: str) -> bool:
    """Which way ``column`` gets better, as ``segcli compare`` counts wins (``combined`` and the
    rater, majority, staple and interrater columns included); a column with no direction (an
    object count, or one segcli does not write) cannot rank cases: a ``UsageError``."""
    from segcli.scores.columns import direction

    way = direction(column)
    if way not in ("higher", "lower"):
        raise UsageError(f"{column}: no better or worse direction ({way}); rank the cases by a score")
    return way == "higher"


def _threshold_scores() -> list[str]:
    """The scores a --thresholds run may hold: those that read the hard mask."""
    from segcli.scores.table import BY_NAME, MULTICLASS_BY_NAME

    return list(MULTICLASS_BY_NAME | BY_NAME)


def worst_cases(results: RunResults, sort_by: str, n: int = N_WORST) -> list[int]:
    """Indices of the ``n`` worst pairs by ``sort_by``: ascending for a score where higher is
    better (dice), descending otherwise (distances, losses); NaN last."""
    if sort_by not in results.columns:
        raise UsageError(f"report sort score {sort_by!r} is not among the columns: {', '.join(results.columns)}")
    values = np.array([row.get(sort_by, math.nan) for row in results.rows], dtype=np.float64)
    key = values if higher_is_better(sort_by) else -values
    key = np.where(np.isnan(key), np.inf, key)
    return [int(i) for i in np.argsort(key, kind="stable")[:n]]


def _thresholds(results: RunResults, sort_by: str) -> tuple[RunResults, str]:
    """A --thresholds run: the mean-against-threshold plot, and the results at the best
    threshold of the sort score (the rest of the page shows those)."""
    from segcli.results.summary import best_thresholds, summarize

    summary = summarize(results.columns, results.rows)
    best = best_thresholds(summary, {name: higher_is_better(name) for name in _threshold_scores()})
    score = sort_by.partition("@")[0]
    if score not in best:
        raise UsageError(f"--report-sort {sort_by}: not a score of this run; choose from {', '.join(best)}")
    threshold = best[score][0]
    notes: list[str] = []
    plot = plot_html("mean score against threshold", threshold_plot, summary, best, notes)
    section = (
        "<h2 id='thresholds'>Thresholds</h2>"
        + plot
        + "".join(f"<p class='note'>{html.escape(note)}</p>" for note in notes)
        + f"<p class='note'>The rest of this page shows the scores at threshold {threshold:g}, the best for "
        f"{html.escape(score)}. Best threshold per score: "
        + ", ".join(f"{html.escape(s)} {t:g}" for s, (t, _) in best.items())
        + "</p>"
    )
    return results.at_threshold(threshold), section


# --- the page --------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#203a55;color:#fff;padding:18px 28px}header h1{margin:0;font-size:24px}
header p{margin:4px 0 0;opacity:.85}main{padding:8px 28px 40px;max-width:1400px}
h2{border-bottom:2px solid #203a55;padding-bottom:4px;margin-top:34px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#eef2f6}
td:first-child,th:first-child{text-align:left}.prov td{text-align:left}
.cases{display:flex;flex-wrap:wrap;gap:14px}.case{background:#fff;border:1px solid #ddd;padding:8px;width:272px}
.case img{width:256px;image-rendering:pixelated;display:block;margin-bottom:6px}.case h3{font-size:14px;margin:0 0 4px;
word-break:break-all}.case p{margin:2px 0;font-size:12px}.legend span{display:inline-block;width:12px;height:12px;
margin:0 4px 0 12px;vertical-align:middle}.plot{max-width:100%}.note{color:#666;font-size:13px}
.failed li{font-family:monospace;font-size:12px;margin:2px 0}details{margin-top:10px}
"""


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _flatten(settings: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for key, value in settings.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", json.dumps(value) if isinstance(value, (list, tuple)) else str(value)))
    return out


def render_report(
    results: RunResults,
    *,
    provenance: dict,
    sort_by: str = "dice",
    images_dir: Path | None = None,
    base_dir: Path | None = None,
    n_worst: int = N_WORST,
    on_note=None,
) -> str:
    """The whole page as one HTML string. ``on_note(message)``: told of each ``images_dir`` image
    that could not be used as its case's background (also said on the page)."""
    from segcli.results.summary import summarize

    threshold_section = ""
    if any("@" in c for c in results.columns):
        results, threshold_section = _thresholds(results, sort_by)
        sort_by = sort_by.partition("@")[0]
    if sort_by not in results.columns:
        raise UsageError(f"--report-sort {sort_by}: not a column of this run; choose from {', '.join(results.columns)}")
    summary = summarize(results.columns, results.rows)
    parts = [
        _header(results),
        _provenance(results, provenance),
        threshold_section,
        _summary(results, summary),
        _distributions(results),
        _per_class(results, summary, sort_by),
        _worst_cases(results, sort_by, n_worst, images_dir, base_dir, on_note),
        _failures(results),
        _every_pair(results),
    ]
    # A file name that is not UTF-8 (its bytes held as surrogates) is shown as \xe9 escapes: the
    # page declares UTF-8 and must be valid UTF-8.
    return "".join(parts).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _header(results: RunResults) -> str:
    """The page's head, its styles and the header: how many pairs, failures and columns."""
    n_pairs = len(results.names)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>segcli report: {n_pairs} pairs</title><style>{STYLE}</style></head><body>"
        "<header><h1>segcli report</h1>"
        f"<p>{n_pairs} pair(s) scored, {len(results.failures)} failed; {len(results.columns)} score column(s)</p>"
        "</header><main>"
    )


def _provenance(results: RunResults, provenance: dict) -> str:
    """What was scored, how and with which settings."""
    rows = [(k, v) for k, v in provenance.items()] + _flatten(results.settings, "setting: ")
    return "<h2 id='provenance'>Provenance</h2>" + _table(["what", "value"], rows, css="prov")


def _summary(results: RunResults, summary: dict[str, dict[str, float]]) -> str:
    """The statistics of every column and the 95% interval of its mean."""
    from segcli.results.intervals import mean_intervals
    from segcli.results.summary import STATISTICS

    intervals = mean_intervals({c: [row.get(c, math.nan) for row in results.rows] for c in results.columns})
    header = ["score", *STATISTICS, "ci95_low", "ci95_high"]
    table_rows = [[c, *(summary[c][s] for s in STATISTICS), intervals[c][0], intervals[c][1]] for c in results.columns]
    return (
        "<h2 id='summary'>Summary</h2>"
        + _table(header, table_rows)
        + "<p class='note'>Statistics over every pair, non-finite values included (an infinite distance makes the "
        "mean infinite); n_nonfinite counts them. ci95: 95% BCa bootstrap interval of the mean (9999 resamples, "
        "seed 0); none where a column is not all finite or all equal.</p>"
    )


def _distributions(results: RunResults) -> str:
    """A distribution plot per family of the scores that are no class's."""
    parts = ["<h2 id='distributions'>Distributions</h2>"]
    families: dict[str, list[str]] = {}
    for column in (c for c in results.columns if split_column(c)[1] is None):
        families.setdefault(family(column), []).append(column)
    if results.names:
        for name, columns in families.items():
            notes: list[str] = []
            plot = plot_html(f"{name} scores", distribution_plot, columns, results, f"{name} scores", notes)
            parts.append(f"<h3>{html.escape(name)}</h3>{plot}")
            parts += [f"<p class='note'>{html.escape(note)}</p>" for note in notes]
    return "".join(parts)


def _per_class(results: RunResults, summary: dict[str, dict[str, float]], sort_by: str) -> str:
    """The mean of each score per class, and a plot of the sort score (or the first) per class;
    nothing for a run without per-class columns."""
    labelled = [c for c in results.columns if split_column(c)[1] is not None]
    if not labelled:
        return ""
    labels = list(dict.fromkeys(split_column(c)[1] for c in labelled))
    scores = list(dict.fromkeys(split_column(c)[0] for c in labelled))
    rows = [[label, *(summary.get(f"{s}_{label}", {}).get("mean", math.nan) for s in scores)] for label in labels]
    parts = ["<h2 id='classes'>Per class (means)</h2>", _table(["class", *scores], rows)]
    plot_score = split_column(sort_by)[0] if split_column(sort_by)[0] in scores else scores[0]
    if results.names:
        notes: list[str] = []
        parts.append(plot_html(f"{plot_score} per class", per_class_plot, plot_score, labels, results, notes))
        parts += [f"<p class='note'>{html.escape(note)}</p>" for note in notes]
    return "".join(parts)


def _worst_cases(
    results: RunResults, sort_by: str, n_worst: int, images_dir: Path | None, base_dir: Path | None, on_note
) -> str:
    """The ``n_worst`` cases by ``sort_by``, each a thumbnail (on its image from ``images_dir`` as
    background, where there is one) and its key scores; ``on_note`` told of each thumbnail's note."""
    order = "ascending" if higher_is_better(sort_by) else "descending"
    legend = (
        ("GT contour", CONTOUR_GT),
        ("prediction contour", CONTOUR_PRED),
        ("false positive", TINT_FP),
        ("false negative", TINT_FN),
    )
    parts = [
        f"<h2 id='worst'>Worst {min(n_worst, len(results.names))} cases by {html.escape(sort_by)} ({order})</h2>",
        "<p class='legend'>"
        + "".join(f"<span style='background:rgb{colour}'></span>{label}" for label, colour in legend)
        + "</p>",
        "<div class='cases'>",
    ]
    images = _image_index(images_dir)
    key_columns = [c for c in ("dice", "iou", "hd95", "assd") if c in results.columns and c != sort_by]
    for index in worst_cases(results, sort_by, n_worst):
        name, row, meta = results.names[index], results.rows[index], results.metas[index]
        notes: list[str] = []
        try:
            uri = png_uri(case_thumbnail(meta, results.settings, images.get(name), base_dir=base_dir, notes=notes))
            picture = f"<img alt='{html.escape(name)}' src='{uri}'>"
        except Exception as exc:  # the page is still useful without this picture
            picture = f"<p class='note'>no thumbnail: {html.escape(str(exc)[:200])}</p>"
        for note in notes:
            picture += f"<p class='note'>{html.escape(note)}</p>"
            if on_note is not None:
                on_note(note)
        details = "".join(f"<p>{html.escape(c)}: {_fmt(row.get(c, math.nan))}</p>" for c in key_columns)
        parts.append(
            f"<div class='case'>{picture}<h3>{html.escape(name)}</h3>"
            f"<p><b>{html.escape(sort_by)}: {_fmt(row.get(sort_by, math.nan))}</b></p>{details}</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def _failures(results: RunResults) -> str:
    """Each failed pair with its message, or ``none``."""
    section = f"<h2 id='failed'>Failed pairs ({len(results.failures)})</h2>"
    if not results.failures:
        return section + "<p class='note'>none</p>"
    items = "".join(f"<li>{html.escape(n)}: {html.escape(m)}</li>" for n, m in results.failures)
    return section + f"<ul class='failed'>{items}</ul>"


def _every_pair(results: RunResults) -> str:
    """Every pair's scores, folded away, and the page's end."""
    pairs = zip(results.names, results.rows, strict=True)
    rows = [[name, *(row.get(c, math.nan) for c in results.columns)] for name, row in pairs]
    return (
        f"<details><summary>Every pair ({len(results.names)})</summary>"
        + _table(["name", *results.columns], rows)
        + "</details></main></body></html>\n"
    )


def _image_index(images_dir: Path | None) -> dict[str, Path]:
    if images_dir is None:
        return {}
    from segcli.inputs.pairing import find_images

    return find_images(images_dir)
