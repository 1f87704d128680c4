"""``segcli compare A B``: two runs case by case, with intervals, tests and wins/ties/losses."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from segcli.cli._locations import local_input, output_or_stdout
from segcli.cli._options import CompareWorkersOpt, ScoresOpt
from segcli.cli._output import info, library_errors, spell, warn
from segcli.cli.score import OutputFormat
from segcli.settings import default

COMMAND = "compare"
GT_SCORES = "dice,iou,hd95,assd"  # what --gt scores and compares when --metrics is not given


def compare(
    a: Annotated[
        Path,
        typer.Argument(
            parser=local_input, help="Run A: a segcli score output (csv/tsv/json/jsonl) or, with --gt, a PRED dir."
        ),
    ],
    b: Annotated[Path, typer.Argument(parser=local_input, help="Run B, the same kind as A; differences are B - A.")],
    gt: Annotated[
        Path | None,
        typer.Option(parser=local_input, help="Ground truth: A and B are prediction directories, scored first."),
    ] = None,
    scores: ScoresOpt = default("scores"),
    fmt: Annotated[
        OutputFormat | None,
        typer.Option("--format", help="Output format \\[default: table on a terminal, else csv; from --output]."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", parser=output_or_stdout, help="Write here (atomically) instead of stdout (- is stdout)."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    workers: CompareWorkersOpt = default("workers"),
) -> None:
    """Compare two runs: mean paired difference B - A with its 95% interval, Wilcoxon test (Holm-corrected),
    wins/ties/losses and the cases that changed most. Exit 0 whatever the verdict. A score named twice in
    --metrics is compared once (said on stderr); --metrics naming nothing, a score not in both runs, or a
    missing A or B is a usage error (exit 2), found before any work."""
    with library_errors(COMMAND):
        from segcli.cli._output import option_errors
        from segcli.results.compare import compare as compare_runs
        from segcli.run.build import check_run_options

        with option_errors(COMMAND):
            check_run_options(workers=workers)
        chosen = _chosen_scores(scores)
        _say_unused(gt=gt, workers=workers)
        if gt is None:
            _runs_exist(a, b)
        else:
            from segcli.scores import table as registry

            registry.select(",".join(chosen or ()) or GT_SCORES)  # unknown names: exit 2, before pairing
        target = None
        pairings = _pair_both(a, b, gt) if gt is not None else None
        if output is not None:
            from segcli.results.outputs import check_output_file

            _never_over_inputs(output, a, b, gt, pairings)  # first: --overwrite would not help
            target = check_output_file(output, overwrite=overwrite)
        if pairings is not None:
            run_a, run_b = _score_both(pairings, ",".join(chosen or ()) or GT_SCORES, workers)
        else:
            run_a, run_b = _read_both(a, b)
        with option_errors(COMMAND):
            rows, pairing = compare_runs(run_a, run_b, scores=chosen if gt is None else None)
        _say_pairing(rows, pairing, a, b)
        meta = {
            "a": str(a),
            "b": str(b),
            "n_paired": len(pairing["paired"]),
            "only_a": pairing["only_a"],
            "only_b": pairing["only_b"],
        }
        text = render(rows, meta, fmt.value if fmt else _format_from(output))
        if target is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            from segcli.results.files import write_text
            from segcli.results.outputs import OutputLock

            with OutputLock(target):
                write_text(target, text, overwrite=True)


def _say_unused(**values) -> None:
    """compare's options that do nothing in this run (``segcli.settings.unused``), said."""
    from segcli.cli._score_plan import given
    from segcli.settings.unused import unused_options

    for message in unused_options(given(values, COMMAND), command=COMMAND):
        warn(spell(message, COMMAND))


def _read_both(a: Path, b: Path):
    """Two finished runs read back; settings that differ between them said."""
    from segcli.results.compare import read_results, settings_differences

    run_a, run_b = read_results(a), read_results(b)
    if run_a.settings is None or run_b.settings is None:
        info("CSV/TSV results carry no settings: whether both runs used the same ones is not checked")
    differ = settings_differences(run_a.settings, run_b.settings)
    if differ:
        warn(f"the two runs used different settings: {', '.join(differ)}")
    return run_a, run_b


def _say_pairing(rows: list[dict], pairing: dict, a: Path, b: Path) -> None:
    """Scores without a direction and cases in one run only, said; no case in common refused."""
    undirected = [f"{r['score']} ({r['better']})" for r in rows if r["wins"] is None]
    if undirected:
        info(f"no better direction, so no wins/ties/losses: {', '.join(undirected)}")
    for side, names in (("A", pairing["only_a"]), ("B", pairing["only_b"])):
        if names:
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            warn(f"{len(names)} case(s) only in {side}, left out: {shown}")
    if not pairing["paired"]:
        from segcli.errors import InputError

        raise InputError(f"{a} and {b} have no case name in common")


def _chosen_scores(metrics: str | None) -> list[str] | None:
    """The --metrics names, each once (a repeat is said: it would count twice in Holm's correction);
    None for every score; naming nothing (``""``, ``" , "``) is refused, as by score."""
    if metrics is None:
        return None
    names = [part.strip() for part in metrics.split(",") if part.strip()]
    if not names:
        raise typer.BadParameter("expected score names, comma-separated; got nothing", param_hint="--metrics")
    repeated = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if repeated:
        info(f"--metrics names {', '.join(repeated)} more than once: compared once each")
    return list(dict.fromkeys(names))


def _runs_exist(a: Path, b: Path) -> None:
    """A and B (without --gt) are files: a missing one, or a directory, is a usage error naming it."""
    from segcli.errors import UsageError

    for run in (a, b):
        if Path(run).is_dir():
            raise UsageError(f"{run}: is a directory; to score prediction directories give --gt GT")
        if not Path(run).exists():
            raise UsageError(f"{run}: no such file or directory")


def _format_from(output: Path | None) -> str:
    if output is not None:
        suffix = output.suffix.lower().lstrip(".")
        return suffix if suffix in ("csv", "tsv", "json", "jsonl") else "csv"
    return "table" if sys.stdout.isatty() else "csv"


def _pair_both(a: Path, b: Path, gt: Path) -> list:
    """(root, pairing) of A and of B with GT: the files each run would read."""
    from segcli.inputs.pairing import pair_files

    return [(root, pair_files(root, gt, missing="skip")) for root in (a, b)]


def _never_over_inputs(target: Path, a: Path, b: Path, gt: Path | None, pairings: list | None) -> None:
    """--output may not be an input, with or without --overwrite: not run A's or run B's file,
    not a file scored with --gt (the same file whatever links lead to it), and not inside the
    PRED or GT directories. Checked before any work; exit 2."""
    from segcli.cli._score_checks import never_over_inputs as never_over_files

    pairs = [] if pairings is None else [pair for _, pairing in pairings for pair in pairing.pairs]
    never_over_files(pairs, {"--output": target}, extra=(a, b), inside=(a, b, gt))


def _score_both(pairings: list, metrics: str, workers: int | None):
    """Score A and B against GT in this process's pool (default settings otherwise)."""
    from segcli.cli._output import progress
    from segcli.results.compare import ScoreTable
    from segcli.run.outcomes import Failure
    from segcli.run.pipeline import score_pairs
    from segcli.scores import table as registry
    from segcli.settings import ScoreSettings

    chosen = tuple(s.name for s in registry.select(metrics))
    settings = ScoreSettings(metrics=chosen)
    tables = []
    for root, pairing in pairings:
        table = ScoreTable(str(root), list(chosen), settings={"metrics": list(chosen)})
        with progress(len(pairing.pairs), f"scoring {root}") as advance:
            for outcome in score_pairs(pairing.pairs, settings, workers=workers, on_done=advance):
                if isinstance(outcome, Failure):
                    warn(f"not scored: {spell(outcome.message)}")
                else:
                    table.values[outcome.name] = outcome.values
        tables.append(table)
    return tables


def _text(value) -> str:
    if value is None:  # wins / ties / losses of a score without a direction
        return ""
    if isinstance(value, list):
        return ";".join(f"{name}:{diff:+.6g}" for name, diff in value)
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _json(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [{"name": name, "diff": diff} for name, diff in value]
    return value


def render(rows: list[dict], meta: dict, fmt: str) -> str:
    """The comparison in one of score's output formats."""
    import io

    from segcli.results.compare import COMPARE_COLUMNS

    buffer = io.StringIO()
    if fmt in ("csv", "tsv"):
        writer = csv.writer(buffer, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        writer.writerow(COMPARE_COLUMNS)
        for row in rows:
            writer.writerow([_text(row[c]) for c in COMPARE_COLUMNS])
    elif fmt == "jsonl":
        for row in rows:
            buffer.write(json.dumps({c: _json(row[c]) for c in COMPARE_COLUMNS}, allow_nan=False) + "\n")
        buffer.write(json.dumps(meta, allow_nan=False) + "\n")
    elif fmt == "json":
        document = {"comparison": [{c: _json(row[c]) for c in COMPARE_COLUMNS} for row in rows]} | meta
        buffer.write(json.dumps(document, allow_nan=False, indent=1) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        from segcli.display import plain

        table = Table(title=plain(f"B - A over {meta['n_paired']} paired case(s): B = {meta['b']}, A = {meta['a']}"))
        shown = [c for c in COMPARE_COLUMNS if c != "most_changed"]
        for column in shown:
            table.add_column(column, justify="left" if column == "score" else "right")
        for row in rows:
            table.add_row(
                *(plain(f"{row[c]:.4g}" if isinstance(row[c], float) else _text(row[c]) or "-") for c in shown)
            )
        console = Console(file=buffer, width=200)
        console.print(table)
        for row in rows:
            if row["most_changed"]:
                console.print(plain(f"{row['score']}: most changed {_text(row['most_changed'])}"))
    return buffer.getvalue()
