"""``segcli metrics``: every score with its formula, defaults and the peers it agrees with."""

from __future__ import annotations


def metrics() -> None:
    """List every score: name, group, mode, formula, defaults and the peers it agrees with.

    An opt-in score (not in the default set of --metrics) says so beside its group."""
    from rich.console import Console
    from rich.table import Table

    from segcli.scores.table import COMBINED_ROWS, SCORES

    table = Table(title="segcli scores (binary; region and surface scores also per class with --num-classes)")
    for column in ("name", "group", "mode", "definition", "defaults", "agrees with", "better", "GPU"):
        table.add_column(column, overflow="fold")
    for s in SCORES + COMBINED_ROWS:
        table.add_row(
            s.name,
            s.group if s.default else f"{s.group} (opt-in)",
            s.mode,
            s.formula,
            s.defaults,
            s.peers,
            s.direction,
            "yes" if s.on_device else "",
        )
    Console(width=200).print(table)
