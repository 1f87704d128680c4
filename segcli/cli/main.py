"""The ``segcli`` entry point: assembles the command modules and holds ``main()``."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from segcli import __version__
from segcli.cli import classweights, compare, metrics, report, score, weightmap
from segcli.cli._output import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_TERMINATED,
    Terminated,
    silence_stdout,
    state,
)
from segcli.results.outputs import TEXT_ERRORS, describe_os_error
from segcli.run.allocator import keep_freed_memory

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
app.command("report", no_args_is_help=True)(report.report)
app.command("compare", no_args_is_help=True)(compare.compare)


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


def _terminate(signum, frame) -> None:
    raise Terminated


class _ClosedStream:
    """Stands in for a standard stream that was closed before segcli started: writing to it is an
    error (stdout: results would be lost) that the commands report in one line."""

    def write(self, text: str) -> int:
        raise OSError(9, "Bad file descriptor", "stdout")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def main() -> None:
    """Run the CLI; usage errors (bad option values, unknown options) print one line, exit 2.

    SIGTERM is handled like Ctrl-C (workers stopped, partial output kept), exit 143; a closed
    stdout reader (broken pipe) ends the run quietly, exit 141.
    """
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    if sys.stdout is None:
        sys.stdout = _ClosedStream()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (nowhere to report anything)
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        # whatever the locale: a file name that is not UTF-8 is printed as its own bytes
        sys.stdout.reconfigure(errors=TEXT_ERRORS)
    # Click's UsageError (the parent of BadParameter, NoSuchOption, MissingParameter), whether
    # typer vendors click or depends on it.
    usage_error = typer.BadParameter.__mro__[1]
    try:
        code = app(standalone_mode=False)
    except usage_error as exc:
        if exc.format_message():  # empty when the help was shown for a bare command
            _say_error(exc.format_message())
        sys.exit(2)
    except typer.Abort as exc:  # click turns KeyboardInterrupt into Abort
        terminated = isinstance(exc.__context__, Terminated) or isinstance(exc.__cause__, Terminated)
        _say_error("terminated" if terminated else "interrupted")
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    except BrokenPipeError:
        silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except OSError as exc:  # stdout full or closed while printing help, --version or a listing
        silence_stdout()
        _say_error(describe_os_error(exc, exc.filename or "stdout"))
        sys.exit(EXIT_OUTPUT)
    sys.exit(code if isinstance(code, int) else 0)


def _say_error(message: str) -> None:
    from segcli.display import printable

    try:
        typer.echo(printable(f"segcli: error: {message}"), err=True)
    except (OSError, ValueError):
        pass
