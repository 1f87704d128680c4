"""Inputs at fsspec URLs: ``s3://bucket/pred/``, ``gs://...``, ``file:///data/gt``, ``memory://...``.

A command-line input that starts with a protocol (``name://``) is a ``Url``, every other input a
``pathlib.Path``; only a ``Url`` imports fsspec, so runs on plain paths start as fast as before.
This module lists a URL directory (recursively, as a local directory is searched), reads a file's
bytes, and makes a temporary local copy for the readers that need a path (medical volumes). A
protocol whose package is missing (s3fs for ``s3://``, gcsfs for ``gs://``) or a missing fsspec
is one ``UsageError`` naming what to install; a file that cannot be fetched is a ``ReadError``
naming its URL. Outputs are local paths.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from segcli.errors import ReadError, UsageError

EXTRA = "pip install 'segcli[dask]'"

_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(location: object) -> bool:
    """True for a ``Url``, or a string that starts with a protocol (``s3://``, ``file://``)."""
    return isinstance(location, Url) or (isinstance(location, str) and bool(_PROTOCOL.match(location)))


@dataclass(frozen=True)
class Url:
    """A file or directory at an fsspec URL, spelt as the user wrote it (children joined with ``/``).

    Deliberately not a ``str`` nor ``os.PathLike``: ``Path(url)`` fails loudly instead of turning
    ``s3://b/k`` into the local path ``s3:/b/k``.
    """

    url: str

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not _PROTOCOL.match(self.url):
            raise ValueError(f"url: expected protocol://path, got {self.url!r}")

    def __str__(self) -> str:
        return self.url

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0].lower()

    @property
    def name(self) -> str:
        return self.url.split("://", 1)[1].rstrip("/").rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    def joinpath(self, relative: str) -> Url:
        protocol, path = self.url.split("://", 1)  # file:/// keeps its three slashes
        return Url(f"{protocol}://{path.rstrip('/')}/{relative}")


def as_input(location: str | Path | Url, *, name: str = "") -> Path | Url:
    """A command-line input as the library takes it: a ``Url`` for ``protocol://...``, else a ``Path``.

    An empty string (and a URL with nothing after ``protocol://``) is a ``UsageError``, never the
    current directory (``Path("")`` is ``.``); ``name`` (``PRED``, ``--rater``) starts its message.
    A ``Path`` is taken as it is: ``Path("")`` cannot be told from ``Path(".")``.
    """
    if isinstance(location, (Path, Url)):
        return location
    if not isinstance(location, str):
        raise TypeError(f"location: expected a str, Path or Url, got {type(location).__name__}")
    if not location or (location.endswith("://") and is_url(location)):
        shown = f"{name}: " if name else ""
        raise UsageError(
            f"{shown}empty path {location!r}: an empty input is refused, not read as the current directory "
            "(write . for that)"
        )
    return Url(location) if is_url(location) else Path(location)


def local_path(location: Path | Url | str) -> Path | None:
    """The local file a location names (a ``Path``, or a ``file://`` URL), None for a remote one."""
    if not isinstance(location, Url):
        return Path(location)
    if location.protocol in ("file", "local"):
        return Path(_filesystem(location)[1])
    return None


def _filesystem(url: Url):
    """(fsspec file system, path within it) for ``url``; missing packages are one usage error."""
    if not isinstance(url, Url):
        raise TypeError(f"url: expected a Url, got {type(url).__name__}")
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise UsageError(f"{url}: reading URLs needs fsspec: {EXTRA}") from None
    try:
        return url_to_fs(url.url)
    except ImportError as exc:  # fsspec knows the protocol, its package is not installed
        raise UsageError(f"{url}: the {url.protocol}:// protocol needs a package not installed here ({exc})") from None
    except ValueError as exc:
        raise UsageError(f"{url}: fsspec knows no protocol {url.protocol}:// ({exc})") from None


def _reason(exc: Exception) -> str:
    """An exception in a few words: its first line, else its type."""
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def list_files(root: Url) -> tuple[bool, dict[str, Url]]:
    """(whether ``root`` is one file, every file under it by its ``/``-separated path relative to
    ``root``; a single file is listed by its name). A root that does not exist is a ``UsageError``."""
    fs, path = _filesystem(root)
    try:
        if fs.isfile(path):
            return True, {root.name: root}
        found = fs.find(path, withdirs=False, detail=False)
    except Exception as exc:  # a denied listing, a bucket that does not exist, a network error
        raise UsageError(f"{root}: cannot list ({_reason(exc)})") from None
    base = path.rstrip("/") + "/"
    files = {}
    for entry in sorted(found):
        if entry.startswith(base) and entry != base:  # never a sibling sharing the prefix (pred2/ for pred)
            relative = entry[len(base) :]
            files[relative] = root.joinpath(relative)
    if not files and not fs.isdir(path):
        raise UsageError(f"{root}: no such file or directory")
    return False, files


def read_bytes(url: Url) -> bytes:
    """The whole file at ``url``; a ``ReadError`` naming it when it cannot be fetched."""
    fs, path = _filesystem(url)
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        raise ReadError(f"{url}: no such file") from None
    except Exception as exc:  # denied, a network error, a protocol's own errors
        raise ReadError(f"{url}: cannot fetch ({_reason(exc)})") from None


@contextlib.contextmanager
def local_copy(url: Url) -> Iterator[Path]:
    """A temporary local copy of ``url`` under its own name (readers choose the format by the
    extension), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="segcli-url-") as folder:
        target = Path(folder) / (url.name or "file")
        with open(target, "wb") as stream:
            stream.write(read_bytes(url))
        yield target


def renamed(text: str, local: Path | str, url: Url) -> str:
    """A reader's message about a local copy, naming the URL instead."""
    return text.replace(os.fspath(local), str(url))
