"""Everything the CLI writes besides data: errors, warnings, progress (stderr only).

Progress bars appear only when stderr is a terminal, so pipelines and log files stay clean.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from typing import NoReturn

import typer

from segcli.errors import SegcliError

state = {"debug": False}


def error(message: str) -> None:
    typer.echo(f"segcli: error: {message}", err=True)


def warn(message: str) -> None:
    typer.echo(f"segcli: warning: {message}", err=True)


def info(message: str) -> None:
    typer.echo(f"segcli: {message}", err=True)


def fail(message: str, code: int) -> NoReturn:
    error(message)
    raise typer.Exit(code=code)


@contextlib.contextmanager
def library_errors() -> Iterator[None]:
    """Turn the library's errors into one stderr line and the exit code SPEC.md gives."""
    try:
        yield
    except SegcliError as exc:
        if state["debug"]:
            traceback.print_exc()
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)


@contextlib.contextmanager
def progress(total: int, description: str) -> Iterator[callable]:
    """Yield an ``advance()`` callable; shows a rich bar on stderr only when it is a terminal."""
    if not sys.stderr.isatty() or total <= 1:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    """Parse ``1,1,2.5`` into floats, each > 0; a usage error names the option otherwise."""
    if text is None:
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=option) from None
    if not values or any(not v > 0 or v == float("inf") for v in values):
        raise typer.BadParameter(f"expected positive finite numbers, got {text!r}", param_hint=option)
    return values
