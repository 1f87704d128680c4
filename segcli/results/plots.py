"""The plots of the HTML report (``segcli.results.html``), each a PNG data URI: the distribution of
every score (a box and every case as a dot), a score per class, and a ``--thresholds`` run's mean
against the threshold. Drawn with matplotlib (Agg) and closed at once; non-finite values are
counted in a panel's title, never dropped silently, and values too large for an axis
(``PLOT_LIMIT``) get a panel and a note saying so. ``plot_html`` turns a plot that cannot be drawn
into a note, so the page is written either way.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence

import numpy as np

from segcli.results.read_back import RunResults

# Beyond this magnitude matplotlib's axis arithmetic (margins, box whiskers, tick steps) overflows
# (values near 1e308: "arange: cannot compute length"); such values are said on the page, not drawn.
PLOT_LIMIT = 1e300


def png_uri(data: bytes) -> str:
    """PNG bytes as a data URI, for an ``<img>``'s ``src``."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return png_uri(buffer.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_html(alt: str, draw, *args) -> str:
    """The ``<img>`` of the plot ``draw(*args)`` returns as a data URI, or, where it cannot be drawn, a
    note saying so: the page is written either way. matplotlib's and numpy's warnings while
    drawing never reach stderr."""
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            uri = draw(*args)
        except Exception as exc:  # the page is still useful without this plot
            reason = html.escape(f"{type(exc).__name__}: {exc}"[:200])
            return f"<p class='note'>{html.escape(alt)}: plot not drawn ({reason})</p>"
    return f"<img class='plot' alt='{html.escape(alt)}' src='{uri}'>"


def _too_large(finite: np.ndarray) -> int:
    """How many of these finite values are beyond what a plot's axis can hold (``PLOT_LIMIT``)."""
    return int(np.count_nonzero(np.abs(finite) > PLOT_LIMIT))


def _not_drawn(what: str, values: np.ndarray) -> str:
    n = _too_large(values)
    return (
        f"{what}: not plotted, {n} value(s) beyond ±{PLOT_LIMIT:g} (largest magnitude "
        f"{float(np.max(np.abs(values))):.6g}); the summary and the table of every pair show them"
    )


def _nonfinite_label(values: np.ndarray) -> str:
    parts = []
    for label, count in (
        ("inf", int(np.sum(np.isposinf(values)))),
        ("-inf", int(np.sum(np.isneginf(values)))),
        ("nan", int(np.sum(np.isnan(values)))),
    ):
        if count:
            parts.append(f"{count} {label}")
    return f" ({', '.join(parts)})" if parts else ""


def distribution_plot(columns: Sequence[str], results: RunResults, title: str, notes: list[str] | None = None) -> str:
    """One panel per score: a box plot of the finite values with every case as a dot; the count of
    inf / nan values in the panel's title (never dropped silently). A score with values too large
    for an axis (beyond ``PLOT_LIMIT``) gets a panel saying so, and a line in ``notes``."""
    plt = _pyplot()
    per_row = 4
    n_rows = math.ceil(len(columns) / per_row)
    figure, axes = plt.subplots(n_rows, per_row, figsize=(3.2 * per_row, 1.6 * n_rows), squeeze=False)
    try:
        rng = np.random.default_rng(0)
        for ax, column in zip(axes.flat, columns, strict=False):
            values = np.array([row.get(column, math.nan) for row in results.rows], dtype=np.float64)
            finite = values[np.isfinite(values)]
            if _too_large(finite):
                ax.text(0.5, 0.5, f"not drawn: values beyond ±{PLOT_LIMIT:g}", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8)  # fmt: skip
                ax.set_xticks([])
                if notes is not None:
                    notes.append(_not_drawn(column, finite))
            elif finite.size:
                ax.boxplot(finite, orientation="horizontal", widths=0.6, showfliers=False)
                if finite.size <= 3000:
                    ax.scatter(finite, 1 + rng.uniform(-0.18, 0.18, finite.size), s=6, alpha=0.45, color="#3465a4")
            ax.set_yticks([])
            ax.set_title(column + _nonfinite_label(values), fontsize=9)
            ax.tick_params(axis="x", labelsize=8)
        for ax in list(axes.flat)[len(columns) :]:
            ax.axis("off")
        figure.suptitle(title, fontsize=11)
        figure.tight_layout()
        return _figure_uri(figure)
    finally:
        plt.close(figure)


def per_class_plot(score: str, labels: Sequence[str], results: RunResults, notes: list[str] | None = None) -> str:
    """A box per class; a class with values too large for an axis is left empty, named so, and
    said in ``notes``."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(min(12, 1.0 + 0.8 * len(labels)), 3.0))
    try:
        data, names = [], []
        for label in labels:
            values = np.array([row.get(f"{score}_{label}", math.nan) for row in results.rows], dtype=np.float64)
            finite = values[np.isfinite(values)]
            if _too_large(finite):
                if notes is not None:
                    notes.append(_not_drawn(f"{score}_{label}", finite))
                finite = finite[:0]
                label = f"{label} (not drawn)"
            data.append(finite)
            names.append(label + _nonfinite_label(values))
        ax.boxplot([d if d.size else [math.nan] for d in data], tick_labels=names, showfliers=False)
        ax.set_ylabel(score)
        ax.tick_params(axis="x", labelsize=8, rotation=30)
        figure.tight_layout()
        return _figure_uri(figure)
    finally:
        plt.close(figure)


def threshold_plot(
    summary: dict[str, dict[str, float]], best: dict[str, tuple[float, float]], notes: list[str] | None = None
) -> str:
    """Mean of each score against the threshold, one panel per score, the best threshold marked; a
    score whose means are too large for an axis gets a panel saying so, and a line in ``notes``."""
    from segcli.scores.columns import split_threshold

    plt = _pyplot()
    curves: dict[str, list[tuple[float, float]]] = {}
    for column, stats in summary.items():
        score, threshold = split_threshold(column)
        curves.setdefault(score, []).append((threshold, stats["mean"]))
    per_row = 4
    n_rows = math.ceil(len(curves) / per_row)
    figure, axes = plt.subplots(n_rows, per_row, figsize=(3.2 * per_row, 2.0 * n_rows), squeeze=False)
    try:
        for ax, (score, points) in zip(axes.flat, curves.items(), strict=False):
            points.sort()
            means = np.array([p[1] for p in points], dtype=np.float64)
            if _too_large(means[np.isfinite(means)]):
                ax.text(0.5, 0.5, f"not drawn: means beyond ±{PLOT_LIMIT:g}", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8)  # fmt: skip
                ax.set_yticks([])
                if notes is not None:
                    notes.append(_not_drawn(f"{score} (mean per threshold)", means[np.isfinite(means)]))
            else:
                ax.plot([p[0] for p in points], means, marker="o", markersize=3)
            if score in best:
                ax.axvline(best[score][0], color="#c0392b", linestyle="--", linewidth=1)
            ax.set_title(f"{score} (best {best[score][0]:g})" if score in best else score, fontsize=9)
            ax.tick_params(labelsize=8)
        for ax in list(axes.flat)[len(curves) :]:
            ax.axis("off")
        figure.tight_layout()
        return _figure_uri(figure)
    finally:
        plt.close(figure)
