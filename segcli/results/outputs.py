"""Guarding output paths: what may be written, and by one run at a time.

Every command that writes a file or a directory checks the target before any work
(``check_output_file`` / ``check_output_dir``) and holds an ``OutputLock`` while it writes, so a
second run aimed at the same output refuses instead of mixing its results in. A lock names the
process that holds it; a lock left by a process that no longer exists (on this host) is stale and
taken over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from pathlib import Path

from segcli.errors import OutputError, OutputExistsError, UsageError

# A file name that is not valid UTF-8 reaches Python as lone surrogates (PEP 383): text outputs
# give it back as its own bytes, as ls and find do, instead of failing at the end of a run.
TEXT_ERRORS = "surrogateescape"


def is_stream_target(path: Path) -> bool:
    """True for an existing character device or FIFO (``/dev/null``, ``/dev/stdout``, a named
    pipe): written to directly, never replaced, never locked."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


# The names of a run's own files beside its output (``lock_path``, ``segcli.results.journal.journal_path``,
# ``segcli.results.files.atomic_path``'s temporaries): an output written under one would lock out, or be
# taken for, another run's state.
RESERVED_SUFFIXES = (".segcli-lock", ".partial")


def check_output_file(target: Path, *, overwrite: bool, option: str = "--output", resume: bool = False) -> Path:
    """Refuse an output file that cannot or must not be written, before any work is done.

    Returns the path to write: ``target`` itself, or where it leads when it is a symbolic link to
    a regular file (the link is kept and the file it names replaced). Raises ``UsageError`` for a
    directory, a socket or block device, a parent that is not a directory, a missing permission;
    ``OutputExistsError`` for an existing regular file without ``overwrite`` (or ``resume``).
    """
    target = Path(target)
    if is_stream_target(target):
        return target
    if target.name.endswith(RESERVED_SUFFIXES):
        raise UsageError(
            f"{option} {target}: names ending in {' or '.join(RESERVED_SUFFIXES)} are segcli's own lock and "
            "journal files; choose another name"
        )
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if target.exists():
        if target.is_dir():
            raise UsageError(f"{option} {target}: is a directory")
        if not target.is_file():
            raise UsageError(f"{option} {target}: exists and is not a regular file")
        if not (overwrite or resume):
            raise OutputExistsError(f"{target}: exists; pass --overwrite to replace it")
    _check_parent(target, option)
    return target


def check_output_dir(target: Path, *, option: str = "--out") -> Path:
    """Refuse an output directory that is a file or whose parent cannot take it."""
    target = Path(target)
    if target.exists():
        if not target.is_dir():
            raise UsageError(f"{option} {target}: exists and is not a directory")
        if not os.access(target, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {target}: {_why_not_writable(target)}")
        return target
    _check_parent(target, option)
    return target


def _check_parent(target: Path, option: str) -> None:
    """The nearest existing ancestor must be a writable directory."""
    parent = target.parent
    while not parent.exists():
        if parent.is_symlink():  # a dangling link
            raise UsageError(f"{option} {target}: {parent} is a broken symbolic link")
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {target}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {target}: {_why_not_writable(parent)} in {parent}")


def _why_not_writable(directory: Path) -> str:
    """Why a directory cannot be written: its file system is mounted read-only, or permissions."""
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    return "read-only file system" if read_only else "permission denied"


def lock_path(target: Path) -> Path:
    """The lock file of an output: a hidden file beside it (never inside an output directory)."""
    target = Path(os.path.abspath(target))
    return target.parent / f".{target.name}.segcli-lock"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class OutputLock:
    """Hold ``lock_path(target)`` for the life of a ``with`` block.

    The lock file holds ``pid host``. Another live holder: ``UsageError`` naming its pid and the
    lock file. A holder that has died on this host: the stale lock is taken over (``stale`` is
    then the old pid). Stream targets (devices, FIFOs) are not locked.
    """

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.path = lock_path(self.target)
        self.stale: int | None = None
        self._held = False

    def __enter__(self) -> OutputLock:
        if is_stream_target(self.target):
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        host = socket.gethostname()
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._read_holder()
                if holder is None or holder[1] != host or _process_alive(holder[0]):
                    who = f"pid {holder[0]} on {holder[1]}" if holder else "another process"
                    raise UsageError(
                        f"{self.target}: another segcli run ({who}) is writing it; "
                        f"lock file {self.path} (delete it if that run is gone)"
                    ) from None
                self.stale = holder[0]
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot create the lock file ({os.strerror(exc.errno)})") from None
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()} {host}\n")
            self._held = True
            return self
        raise UsageError(f"{self.path}: lock file keeps changing; is another run starting?")

    def _read_holder(self) -> tuple[int, str] | None:
        try:
            pid, host = self.path.read_text().split()[:2]
            return int(pid), host
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc_info) -> None:
        if self._held:
            holder = self._read_holder()
            if holder is not None and holder[0] == os.getpid():
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            self._held = False


def describe_os_error(exc: OSError, path: Path | str | None = None, *, doing: str = "write") -> str:
    """One line for an ``OSError`` met while writing (or ``doing`` something else to the file):
    the file and the cause in words."""
    where = path if path is not None else (exc.filename or "output")
    reason = {
        errno.ENOSPC: "no space left on device",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EDQUOT: "disk quota exceeded",
        errno.EBADF: "closed",
        errno.EFBIG: "file too large",
    }.get(exc.errno, os.strerror(exc.errno) if exc.errno else str(exc))
    if exc.errno is None and "requested and" in str(exc):  # numpy's short write: a full device
        reason = f"{exc}: the device is probably full"
    return f"{where}: cannot {doing} ({reason})"
