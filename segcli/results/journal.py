"""The partial output of a run written to a file: a journal that makes it resumable.

While ``segcli score -o FILE`` runs, every record is appended (and flushed) to ``FILE.partial``
as soon as its pair is scored: one JSON line per pair, full precision, after a header line with
the run's settings. The finished report is then written to FILE atomically and the journal
removed. An interrupted run (Ctrl-C, SIGTERM, a kill, a full disk) leaves the journal; ``--resume``
reads it, scores only the pairs it lacks and writes the same FILE a clean run would have.
A last line cut short by a kill is dropped (that pair is scored again).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from segcli.errors import OutputError, UsageError
from segcli.results.outputs import describe_os_error
from segcli.settings import current_names

JOURNAL_VERSION = 1
# Settings that may differ between an interrupted run and its resumption without changing a value.
NOT_COMPARED = ("max_memory", "device", "cpu_plan")


def journal_path(target: Path) -> Path:
    """Where the partial output of ``target`` lives: ``results.csv`` -> ``results.csv.partial``."""
    target = Path(target)
    return target.parent / f"{target.name}.partial"


def _normal(obj):
    """As it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(obj, allow_nan=True, default=str))


class Journal:
    """An open journal: ``done`` maps each pair already scored to its ``(values, meta)``."""

    def __init__(
        self, path: Path, handle, done: dict[str, tuple[dict, dict]], stamps: dict[str, list] | None = None
    ) -> None:
        self.path = path
        self._handle = handle
        self.done = done
        self.stamps = stamps or {}  # each pair's input files as they were when it was scored

    @classmethod
    def open(cls, target: Path, header: dict, *, resume: bool, overwrite: bool) -> Journal:
        """Start a journal for ``target``, or continue the one left by an interrupted run.

        Without ``resume`` an existing journal is refused (it holds results) unless ``overwrite``;
        with ``resume`` its header must match ``header`` (the same settings and columns).
        """
        path = journal_path(target)
        header = {"segcli_journal": JOURNAL_VERSION} | _normal(header)
        done: dict[str, tuple[dict, dict]] = {}
        stamps: dict[str, list] = {}
        keep = 0
        if path.exists():
            if not path.is_file():
                raise UsageError(f"{path}: exists and is not a regular file")
            if not resume and not overwrite:
                raise UsageError(
                    f"{path}: holds the results of an interrupted run; pass --resume to continue it "
                    "or --overwrite to start again"
                )
            if resume:
                keep, done, stamps = _read(path, header)
        try:
            handle = open(path, "r+b" if keep else "wb")  # noqa: SIM115 (closed by close())
            if keep:
                handle.truncate(keep)  # drop a last line cut short by a kill
                handle.seek(keep)
            else:
                handle.write((json.dumps(header, allow_nan=True) + "\n").encode())
                handle.flush()
        except OSError as exc:
            raise OutputError(describe_os_error(exc, path)) from None
        return cls(path, handle, done, stamps)

    def append(self, name: str, values: dict, meta: dict, stamp: list | None = None) -> None:
        """Add one scored pair (``stamp``: its input files' ``input_stamp``); it is on disk (in
        the OS's hands) when this returns."""
        record = {"name": name, "values": values, "meta": meta} | ({"stamp": stamp} if stamp is not None else {})
        line = json.dumps(record, allow_nan=True) + "\n"
        try:
            self._handle.write(line.encode())
            self._handle.flush()
        except OSError as exc:
            raise OutputError(describe_os_error(exc, self.path)) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def input_stamp(paths) -> list:
    """What a pair's input files are now, to tell on --resume whether they changed since the pair
    was scored: ``[size, mtime_ns]`` of each local file, None for a URL, an absent or unreadable one.

    >>> input_stamp([None])
    [None]
    """
    from segcli.inputs.remote import local_path

    stamp = []
    for path in paths:
        local = local_path(path) if path is not None else None
        try:
            found = os.stat(local) if local is not None else None
        except OSError:
            found = None
        stamp.append(None if found is None else [found.st_size, found.st_mtime_ns])
    return stamp


def _read(path: Path, header: dict) -> tuple[int, dict[str, tuple[dict, dict]], dict[str, list]]:
    """Bytes of complete lines, the records they hold and their input stamps; a mismatching
    header is refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OutputError(describe_os_error(exc, path, doing="read")) from None
    done: dict[str, tuple[dict, dict]] = {}
    stamps: dict[str, list] = {}
    keep = 0
    lines = data.split(b"\n")  # the records' own line ends: JSON escapes any other in a name
    for number, text in enumerate(lines):
        if number == len(lines) - 1:
            break  # after the last line end: empty, or a line cut short by a kill (dropped)
        try:
            entry = json.loads(text)
        except ValueError:
            if number == 0:
                raise UsageError(f"{path}: not a segcli journal; delete it or pass --overwrite") from None
            entry = None
        if number == 0:
            _check_header(path, entry, header)
        elif not _is_record(entry):
            raise UsageError(
                f"{path}: line {number + 1} is not a record of a segcli run (edited or damaged); "
                "delete the file or pass --overwrite to score again"
            )
        else:
            done[entry["name"]] = (entry["values"], entry.get("meta", {}))
            stamps.pop(entry["name"], None)  # a pair scored again: its latest line holds
            if isinstance(entry.get("stamp"), list):
                stamps[entry["name"]] = entry["stamp"]
        keep += len(text) + 1
    if keep == 0:
        raise UsageError(f"{path}: empty or not a segcli journal; delete it or pass --overwrite")
    return keep, done, stamps


def _is_record(entry) -> bool:
    """A journal line as ``Journal.append`` writes it: a name, numeric values, a meta dict."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("values"), dict)
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(k, str)
            for k, v in entry["values"].items()
        )
        and isinstance(entry.get("meta", {}), dict)
    )


def _check_header(path: Path, stored: dict, header: dict) -> None:
    if not isinstance(stored, dict) or stored.get("segcli_journal") != JOURNAL_VERSION:
        raise UsageError(f"{path}: not a segcli journal of this version; delete it or pass --overwrite")

    def comparable(h: dict) -> dict:  # a journal of an older segcli: its settings under today's names
        settings = {k: v for k, v in current_names(h.get("settings", {})).items() if k not in NOT_COMPARED}
        return {k: v for k, v in h.items() if k != "settings"} | {"settings": settings}

    old, new = comparable(stored), comparable(header)
    if old != new:
        top = {k for k in old.keys() | new.keys() if k != "settings" and old.get(k) != new.get(k)}
        a, b = old["settings"], new["settings"]
        differ = sorted(top | {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)})
        raise UsageError(
            f"{path}: the interrupted run used other settings ({', '.join(differ)} differ); "
            "repeat its command with --resume, or pass --overwrite to start again"
        )
