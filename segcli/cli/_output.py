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

# Exit codes (also in the README): 0 done; 1 some pair or file could not be processed (each named,
# the others done); 2 usage error; 3 an output could not be written; 4 an internal error (a bug);
# 130 interrupted (Ctrl-C), 143 terminated (SIGTERM); 141 stdout closed by its reader (a broken
# pipe, e.g. `| head`), silently, as a process killed by SIGPIPE would.
EXIT_FAILED, EXIT_USAGE, EXIT_OUTPUT, EXIT_INTERNAL = 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED = 130, 141, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (workers stopped, partial output kept) but exit 143."""


def _say(line: str) -> None:
    """A line on stderr (control characters in names made visible: ``segcli.display``); a closed
    or full stderr must not turn into a traceback."""
    from segcli.display import printable

    try:
        typer.echo(printable(line), err=True)
    except (OSError, ValueError):
        pass


def error(message: str) -> None:
    _say(f"segcli: error: {message}")


def warn(message: str) -> None:
    _say(f"segcli: warning: {message}")


def info(message: str) -> None:
    _say(f"segcli: {message}")


def fail(message: str, code: int) -> NoReturn:
    error(message)
    raise typer.Exit(code=code)


def silence_stdout() -> None:
    """After a broken pipe or a failed write: point stdout at /dev/null so the interpreter's final flush is quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def flag_of(command: str | None = None):
    """The name -> flag lookup of ``command`` (``segcli.settings.flag``), for ``SegcliError.spelled``."""
    from segcli.settings import flag

    return lambda name: flag(name, command)


def spell(text: str, command: str | None = None) -> str:
    """A library message (a ``Failure``'s) with its options as ``command``'s flags."""
    from segcli.errors import spelled

    return spelled(text, flag_of(command))


@contextlib.contextmanager
def library_errors(command: str | None = None) -> Iterator[None]:
    """Turn every error into one stderr line and its exit code, each option named in it as the
    flag of ``command``; ``--debug`` adds the traceback."""
    try:
        yield
    except (typer.Exit, typer.BadParameter.__mro__[1]):  # exits and click's usage errors pass
        raise
    except SegcliError as exc:
        if state["debug"]:
            traceback.print_exc()
        fail(exc.spelled(flag_of(command)), exc.exit_code)
    except BrokenPipeError:
        silence_stdout()
        raise typer.Exit(code=EXIT_BROKEN_PIPE) from None
    except Terminated:
        fail("terminated", EXIT_TERMINATED)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except OSError as exc:
        if state["debug"]:
            traceback.print_exc()
        from segcli.results.outputs import describe_os_error

        where = exc.filename or ("stdout" if exc.errno in (9, 28, 5) else None)
        if where == "stdout":  # what stdout still buffers cannot be written either: the final flush stays quiet
            silence_stdout()
        fail(describe_os_error(exc, where), EXIT_OUTPUT)
    except MemoryError:
        fail("out of memory (try fewer --workers or --max-memory)", EXIT_FAILED)
    except Exception as exc:  # a bug: one line, the traceback with --debug
        if state["debug"]:
            traceback.print_exc()
        fail(f"internal error ({type(exc).__name__}: {exc}); run with --debug for the traceback", EXIT_INTERNAL)


@contextlib.contextmanager
def option_errors(command: str | None = None) -> Iterator[None]:
    """The library's ``InvalidOption`` (named by setting) as a usage error naming the CLI flag of
    ``command`` (``segcli.settings.flag``)."""
    from segcli.errors import InvalidOption

    try:
        yield
    except InvalidOption as exc:
        raise typer.BadParameter(spell(exc.reason, command), param_hint=flag_of(command)(exc.option)) from None


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


def cap_workers(workers: int | None, n_items: int, cores: int, what: str = "file") -> int:
    """At most one worker per item and per core; an explicit --workers above that is said."""
    cap = max(1, min(n_items, cores))
    if workers is None:
        return cap
    if workers > cap:
        info(f"--workers {workers} capped at {cap} ({n_items} {what}(s), {cores} core(s))")
        return cap
    return workers


def parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    """Parse ``1,1,2.5`` into floats, each > 0; a usage error names the option otherwise."""
    if text is None:
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=option) from None
    if not values or any(not v > 0 or v == float("inf") for v in values):  # NaN fails v > 0
        raise typer.BadParameter(f"expected positive finite numbers, got {text!r}", param_hint=option)
    return values
