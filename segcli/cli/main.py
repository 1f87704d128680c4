"""The ``segcli`` entry point: assembles the command modules and holds ``main()``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from segcli import __version__
from segcli.allocator import keep_freed_memory
from segcli.cli import classweights, metrics, score, weightmap
from segcli.cli._output import state

app = typer.Typer(
    name="segcli",
    help="Score segmentations, write training weight maps, compute class weights.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("score", no_args_is_help=True)(score.score)
app.command("weightmap", no_args_is_help=True)(weightmap.weightmap)
app.command("classweights", no_args_is_help=True)(classweights.classweights)
app.command("metrics")(metrics.metrics)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"segcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    state["debug"] = debug
    keep_freed_memory()


def main() -> None:
    """Run the CLI; usage errors (bad option values, unknown options) print one line, exit 2."""
    # Click's UsageError (the parent of BadParameter, NoSuchOption, MissingParameter), whether
    # typer vendors click or depends on it.
    usage_error = typer.BadParameter.__mro__[1]
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        if exc.format_message():  # empty when the help was shown for a bare command
            typer.echo(f"segcli: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("segcli: error: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
