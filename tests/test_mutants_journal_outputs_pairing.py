"""The modules that keep users' data safe, pinned where mutation testing found them loose.

segcli/results/journal.py (the resume journal, ``FILE.partial``): a resumed journal keeps its complete
lines byte for byte, drops a line cut short and appends after them (the file equals the one an
uninterrupted run writes); each record's values and meta read back, a record without meta reads
as ``{}``; a non-finite or non-JSON setting in the header round-trips; an existing journal is
refused without --resume/--overwrite and restarted with --overwrite; an empty, garbage, other-
version or directory journal is one usage error saying which; the settings check ignores
``NOT_COMPARED`` and names exactly the keys (top level and settings) that differ; a full disk
while appending names the journal, and closing or removing it afterwards never raises.

segcli/results/outputs.py: ``check_output_dir``'s messages (``--out`` by default, the parent's problem,
a directory that cannot be written: "permission denied" or "read-only file system" from the
mount flag); the output lock (its file's content and mode, a lock beside an output in a folder not
made yet, a live holder refused by pid and host, a lock of another host never taken over, a stale
one taken over with ``stale`` = its pid, a racing run that keeps recreating it, an unreadable lock,
a lock that cannot be created, a FIFO never locked); ``_process_alive`` (probes, sends no signal);
``describe_os_error``'s causes in words and the file it names.

segcli/inputs/pairing.py: keys without extension and suffix, suffix only at the end, hidden files and
non-images ignored, the error listing every unmatched file, --missing skip and empty.

Root passes every permission check, so an unwritable directory is a stand-in ``os.access`` (as in
tests/test_faults.py); a full disk is ``/dev/full``. Expectations are worked out by hand from the
README's guarantees ("Nothing lost, nothing clobbered") and the files each test builds.
"""

from __future__ import annotations

import collections
import errno
import json
import math
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from segcli.errors import OutputError, OutputExistsError, PairingError, UsageError
from segcli.inputs.pairing import Pair, find_images, pair_files
from segcli.results.journal import Journal, journal_path
from segcli.results.outputs import (
    OutputLock,
    _process_alive,
    _why_not_writable,
    check_output_dir,
    check_output_file,
    describe_os_error,
    lock_path,
)

# ------------------------------------------------------------------------------------- journal

HEADER = {"format": "csv", "columns": ["dice"], "settings": {"metrics": ["dice"], "threshold": 0.5}}
RECORDS = [
    ("a", {"dice": 0.5}, {"pred_kind": "mask"}),
    ("b", {"dice": 0.25}, {"pred_kind": "prob", "spacing": [1.0, 2.0]}),
    ("c", {"dice": 1.0}, {}),
]


def _journal(target, records, header=HEADER):
    journal = Journal.open(target, header, resume=False, overwrite=False)
    for name, values, meta in records:
        journal.append(name, values, meta)
    journal.close()
    return journal.path


def test_resume_keeps_complete_lines_drops_the_cut_one_and_ends_as_a_clean_run(tmp_path):
    (tmp_path / "clean").mkdir()
    clean = _journal(tmp_path / "clean" / "r.csv", RECORDS)
    target = tmp_path / "r.csv"
    path = _journal(target, RECORDS[:2])
    kept = path.read_bytes()
    with open(path, "ab") as handle:
        handle.write(b'{"name": "c", "values": {"di')  # a kill in the middle of a line
    journal = Journal.open(target, HEADER, resume=True, overwrite=False)
    assert journal.done == {name: (values, meta) for name, values, meta in RECORDS[:2]}
    assert path.read_bytes() == kept  # the cut line is gone before anything is appended
    journal.append(*RECORDS[2])
    journal.close()
    assert path.read_bytes() == clean.read_bytes()
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 5 and lines[-1] == b""  # header, a, b, c, then the final line end
    assert json.loads(lines[3]) == {"name": "c", "values": {"dice": 1.0}, "meta": {}}


def test_resume_with_nothing_cut_appends_after_the_last_line(tmp_path):
    target = tmp_path / "r.csv"
    path = _journal(target, RECORDS[:1])
    kept = path.read_bytes()
    journal = Journal.open(target, HEADER, resume=True, overwrite=False)
    journal.append(*RECORDS[1])
    journal.close()
    data = path.read_bytes()
    assert data.startswith(kept) and data.count(b"\n") == 3
    again = Journal.open(target, HEADER, resume=True, overwrite=False)
    assert again.done == {name: (values, meta) for name, values, meta in RECORDS[:2]}
    again.close()


def test_a_record_without_meta_reads_back_with_empty_meta(tmp_path):
    target = tmp_path / "r.csv"
    path = _journal(target, [])
    with open(path, "a") as handle:
        handle.write('{"name": "a", "values": {"dice": 0.5}}\n')
    journal = Journal.open(target, HEADER, resume=True, overwrite=False)
    assert journal.done == {"a": ({"dice": 0.5}, {})}
    journal.close()


def test_a_header_with_inf_and_a_path_round_trips_and_resumes(tmp_path):
    """Settings may hold inf (JSON's Infinity, as the records do) and objects JSON cannot hold (a
    path, written as its text): the journal is written, and the same settings resume it."""
    target = tmp_path / "r.csv"
    header = {"format": "csv", "columns": ["hd"], "settings": {"max_distance": math.inf, "labels": tmp_path / "d.json"}}
    path = _journal(target, [("a", {"hd": math.inf}, {})], header)
    stored = json.loads(path.read_bytes().split(b"\n")[0])
    assert stored["settings"] == {"max_distance": math.inf, "labels": str(tmp_path / "d.json")}
    assert stored["segcli_journal"] == 1
    journal = Journal.open(target, header, resume=True, overwrite=False)
    assert journal.done == {"a": ({"hd": math.inf}, {})}
    journal.close()


def test_headers_without_settings_are_compared_too(tmp_path):
    target = tmp_path / "r.csv"
    _journal(target, RECORDS[:1], {"format": "csv", "columns": ["dice"]})
    journal = Journal.open(target, {"format": "csv", "columns": ["dice"]}, resume=True, overwrite=False)
    assert list(journal.done) == ["a"]
    journal.close()
    with pytest.raises(UsageError, match=r"\(format differ\)"):
        Journal.open(target, {"format": "tsv", "columns": ["dice"]}, resume=True, overwrite=False)


def test_an_existing_journal_is_refused_without_resume_and_restarted_with_overwrite(tmp_path):
    target = tmp_path / "r.csv"
    path = _journal(target, RECORDS)
    before = path.read_bytes()
    with pytest.raises(UsageError) as refused:
        Journal.open(target, HEADER, resume=False, overwrite=False)
    assert str(refused.value) == (
        f"{path}: holds the results of an interrupted run; pass --resume to continue it or --overwrite to start again"
    )
    assert path.read_bytes() == before  # never discarded
    journal = Journal.open(target, HEADER, resume=False, overwrite=True)
    journal.close()
    assert journal.done == {}
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 2 and lines[1] == b"" and json.loads(lines[0]) == {"segcli_journal": 1} | HEADER


def test_a_journal_that_is_a_directory_is_refused(tmp_path):
    journal_path(tmp_path / "r.csv").mkdir()
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=True)
    assert str(refused.value) == f"{tmp_path / 'r.csv.partial'}: exists and is not a regular file"


@pytest.mark.parametrize("content", [b"", b'{"segcli_journal": 1, "format": "csv"'])
def test_an_empty_journal_or_one_cut_in_its_header_is_refused(tmp_path, content):
    path = journal_path(tmp_path / "r.csv")
    path.write_bytes(content)
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(refused.value) == f"{path}: empty or not a segcli journal; delete it or pass --overwrite"
    assert path.read_bytes() == content


def test_a_file_that_is_not_a_journal_is_refused_as_that(tmp_path):
    path = journal_path(tmp_path / "r.csv")
    path.write_bytes(b"name,dice\na,0.5\n")
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(refused.value) == f"{path}: not a segcli journal; delete it or pass --overwrite"


@pytest.mark.parametrize("first", [b'{"segcli_journal": 2, "format": "csv"}', b"[1]", b'"segcli_journal"'])
def test_a_journal_of_another_version_is_refused_as_that(tmp_path, first):
    path = journal_path(tmp_path / "r.csv")
    path.write_bytes(first + b"\n")
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(refused.value) == f"{path}: not a segcli journal of this version; delete it or pass --overwrite"


def test_a_damaged_record_is_named_by_its_line(tmp_path):
    path = _journal(tmp_path / "r.csv", RECORDS[:1])
    with open(path, "a") as handle:
        handle.write("not json\n")
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(refused.value) == (
        f"{path}: line 3 is not a record of a segcli run (edited or damaged); "
        "delete the file or pass --overwrite to score again"
    )


def test_settings_that_change_no_value_may_differ_on_resume(tmp_path):
    old = HEADER | {"settings": HEADER["settings"] | {"max_memory": 1, "device": "cpu", "cpu_plan": [1]}}
    new = HEADER | {"settings": HEADER["settings"] | {"max_memory": 2, "device": "cuda", "cpu_plan": [2, 2]}}
    _journal(tmp_path / "r.csv", RECORDS[:1], old)
    journal = Journal.open(tmp_path / "r.csv", new, resume=True, overwrite=False)
    assert list(journal.done) == ["a"]
    journal.close()


def test_other_settings_are_refused_naming_exactly_the_keys_that_differ(tmp_path):
    """columns changed, labels only in the new header, threshold changed, seed only in the new
    settings; format and metrics are equal, device is not compared."""
    path = _journal(tmp_path / "r.csv", RECORDS[:1], HEADER | {"settings": HEADER["settings"] | {"device": "cpu"}})
    new = {
        "format": "csv",
        "columns": ["dice", "iou"],
        "labels": ["liver"],
        "settings": {"metrics": ["dice"], "threshold": 0.6, "seed": 1, "device": "cuda"},
    }
    with pytest.raises(UsageError) as refused:
        Journal.open(tmp_path / "r.csv", new, resume=True, overwrite=False)
    assert str(refused.value) == (
        f"{path}: the interrupted run used other settings (columns, labels, seed, threshold differ); "
        "repeat its command with --resume, or pass --overwrite to start again"
    )


def test_only_a_setting_that_differs_is_refused_too(tmp_path):
    path = _journal(tmp_path / "r.csv", RECORDS[:1])
    new = HEADER | {"settings": HEADER["settings"] | {"threshold": 0.6}}
    with pytest.raises(UsageError, match=r"other settings \(threshold differ\)") as refused:
        Journal.open(tmp_path / "r.csv", new, resume=True, overwrite=False)
    assert str(refused.value).startswith(f"{path}: ")


def test_a_journal_that_cannot_be_created_or_read_is_an_output_error_naming_it(tmp_path, monkeypatch):
    missing = tmp_path / "gone" / "r.csv"
    with pytest.raises(OutputError) as created:
        Journal.open(missing, HEADER, resume=False, overwrite=False)
    assert str(created.value) == f"{journal_path(missing)}: cannot write (No such file or directory)"

    path = _journal(tmp_path / "r.csv", RECORDS[:1])

    def unreadable(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(OutputError) as read:
        Journal.open(tmp_path / "r.csv", HEADER, resume=True, overwrite=False)
    assert str(read.value) == f"{path}: cannot read (permission denied)"  # a read, not a write


def test_a_full_disk_while_appending_names_the_journal_and_closing_never_raises(tmp_path):
    journal = Journal.open(tmp_path / "r.csv", HEADER, resume=False, overwrite=False)
    journal._handle.close()
    journal._handle = open("/dev/full", "wb")  # noqa: SIM115 (a stand-in for a full disk)
    with pytest.raises(OutputError) as full:
        journal.append(*RECORDS[0])
    assert str(full.value) == f"{journal.path}: cannot write (no space left on device)"
    journal.close()  # the unwritten line is still buffered: closing fails again, quietly
    assert journal._handle.closed
    journal.remove()
    assert not journal.path.exists()
    journal.remove()  # already gone: nothing to do


# ------------------------------------------------------------------------------------- outputs


def test_check_output_file_refusals_and_what_it_returns(tmp_path, monkeypatch):
    for reserved in ("r.csv.partial", "r.csv.segcli-lock"):
        with pytest.raises(UsageError) as own:
            check_output_file(tmp_path / reserved, overwrite=True)
        assert str(own.value) == (
            f"--output {tmp_path / reserved}: names ending in .segcli-lock or .partial are segcli's own lock and "
            "journal files; choose another name"
        )
    with pytest.raises(UsageError) as directory:
        check_output_file(tmp_path, overwrite=True, option="--html")
    assert str(directory.value) == f"--html {tmp_path}: is a directory"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock"))
        with pytest.raises(UsageError) as sock:
            check_output_file(tmp_path / "sock", overwrite=True)
        assert str(sock.value) == f"--output {tmp_path / 'sock'}: exists and is not a regular file"
    finally:
        server.close()
    existing = tmp_path / "r.csv"
    existing.write_text("name,dice\n")
    with pytest.raises(OutputExistsError) as exists:
        check_output_file(existing, overwrite=False)
    assert str(exists.value) == f"{existing}: exists; pass --overwrite to replace it"
    assert check_output_file(existing, overwrite=True) == existing
    assert check_output_file(existing, overwrite=False, resume=True) == existing
    (tmp_path / "link.csv").symlink_to(existing)  # the link is kept, the file it names replaced
    assert check_output_file(tmp_path / "link.csv", overwrite=True) == existing
    assert check_output_file(Path("/dev/null"), overwrite=False) == Path("/dev/null")
    with pytest.raises(UsageError) as under_a_file:
        check_output_file(existing / "x.csv", overwrite=True)
    assert str(under_a_file.value) == f"--output {existing / 'x.csv'}: {existing} is not a directory"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UsageError) as broken:
        check_output_file(tmp_path / "dangling" / "x.csv", overwrite=True)
    assert (
        str(broken.value)
        == f"--output {tmp_path / 'dangling' / 'x.csv'}: {tmp_path / 'dangling'} is a broken symbolic link"
    )
    assert (
        check_output_file(tmp_path / "new" / "deeper" / "x.csv", overwrite=False)
        == tmp_path / "new" / "deeper" / "x.csv"
    )
    _deny_writing(monkeypatch, tmp_path)
    with pytest.raises(UsageError) as denied:
        check_output_file(tmp_path / "new" / "x.csv", overwrite=True)
    assert str(denied.value) == f"--output {tmp_path / 'new' / 'x.csv'}: permission denied in {tmp_path}"


def test_check_output_dir_messages(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError) as not_a_dir:
        check_output_dir(tmp_path / "file")
    assert str(not_a_dir.value) == f"--out {tmp_path / 'file'}: exists and is not a directory"
    with pytest.raises(UsageError) as under_a_file:
        check_output_dir(tmp_path / "file" / "maps")
    assert str(under_a_file.value) == f"--out {tmp_path / 'file' / 'maps'}: {tmp_path / 'file'} is not a directory"
    assert check_output_dir(tmp_path / "new" / "maps") == tmp_path / "new" / "maps"
    assert check_output_dir(tmp_path) == tmp_path


def _deny_writing(monkeypatch, directory: Path):
    """Root may write anywhere: refuse writing (not looking) in ``directory``, as its mode would."""
    real = os.access

    def access(path, mode):
        if Path(path) == directory and mode & os.W_OK:
            return False
        return real(path, mode)

    monkeypatch.setattr(os, "access", access)


def test_an_existing_out_directory_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    _deny_writing(monkeypatch, tmp_path)
    with pytest.raises(UsageError) as refused:
        check_output_dir(tmp_path, option="--out")
    assert str(refused.value) == f"--out {tmp_path}: permission denied"


def test_why_a_directory_cannot_be_written(tmp_path, monkeypatch):
    assert _why_not_writable(tmp_path) == "permission denied"  # tmp_path is mounted read-write
    mounted = collections.namedtuple("mounted", "f_flag")
    real = os.statvfs
    monkeypatch.setattr(os, "statvfs", lambda path: mounted(os.ST_RDONLY | 1) if Path(path) == tmp_path else real(path))
    assert _why_not_writable(tmp_path) == "read-only file system"
    assert _why_not_writable(tmp_path / "x") == "permission denied"

    def fails(path):
        raise OSError(errno.ENOSYS, "no statvfs")

    monkeypatch.setattr(os, "statvfs", fails)
    assert _why_not_writable(tmp_path) == "permission denied"  # unknown: not claimed read-only


def test_a_lock_is_a_hidden_file_naming_this_process_and_host(tmp_path):
    target = tmp_path / "new" / "deeper" / "r.csv"  # check_output_file allows folders not made yet
    old = os.umask(0o022)
    try:
        with OutputLock(target) as lock:
            assert lock.path == tmp_path / "new" / "deeper" / ".r.csv.segcli-lock"
            assert lock.path.read_text() == f"{os.getpid()} {socket.gethostname()}\n"
            assert stat.S_IMODE(lock.path.stat().st_mode) == 0o644
            assert lock.stale is None
    finally:
        os.umask(old)
    assert not lock.path.exists()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def sleeper():
    """A live process of this host that a stray signal would end (SIGHUP's default action, even
    under nohup), started when it says so."""
    code = "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_DFL); print('up', flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert child.stdout.readline() == b"up\n"
    yield child
    child.kill()
    child.wait()


def test_a_live_holder_is_refused_by_pid_and_host(tmp_path, sleeper):
    target = tmp_path / "r.csv"
    host = socket.gethostname()
    lock_path(target).write_text(f"{sleeper.pid} {host}\n")
    with pytest.raises(UsageError) as refused:
        OutputLock(target).__enter__()
    assert str(refused.value) == (
        f"{target}: another segcli run (pid {sleeper.pid} on {host}) is writing it; "
        f"lock file {lock_path(target)} (delete it if that run is gone)"
    )
    assert lock_path(target).read_text() == f"{sleeper.pid} {host}\n"


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    """Its pid means nothing here: even one that does not exist on this host."""
    target = tmp_path / "r.csv"
    pid = _dead_pid()
    lock_path(target).write_text(f"{pid} elsewhere.example\n")
    with pytest.raises(UsageError, match=rf"another segcli run \(pid {pid} on elsewhere\.example\)"):
        OutputLock(target).__enter__()
    assert lock_path(target).read_text() == f"{pid} elsewhere.example\n"


def test_an_unreadable_lock_is_another_process(tmp_path):
    target = tmp_path / "r.csv"
    lock_path(target).write_text("garbage\n")
    with pytest.raises(UsageError) as refused:
        OutputLock(target).__enter__()
    assert str(refused.value) == (
        f"{target}: another segcli run (another process) is writing it; "
        f"lock file {lock_path(target)} (delete it if that run is gone)"
    )


def test_a_stale_lock_of_this_host_is_taken_over(tmp_path):
    target = tmp_path / "r.csv"
    pid = _dead_pid()
    lock_path(target).write_text(f"{pid} {socket.gethostname()}\n")
    with OutputLock(target) as lock:
        assert lock.stale == pid
        assert lock.path.read_text() == f"{os.getpid()} {socket.gethostname()}\n"
    assert not lock.path.exists()


def test_a_stale_lock_removed_by_another_run_meanwhile_is_taken(tmp_path, monkeypatch):
    target = tmp_path / "r.csv"
    pid = _dead_pid()
    lock_path(target).write_text(f"{pid} {socket.gethostname()}\n")
    read = OutputLock._read_holder

    def read_then_lose_it(self):
        holder = read(self)
        self.path.unlink()  # the other run removed the stale lock first
        return holder

    monkeypatch.setattr(OutputLock, "_read_holder", read_then_lose_it)
    lock = OutputLock(target)
    lock.__enter__()
    assert lock.stale == pid
    assert lock.path.read_text() == f"{os.getpid()} {socket.gethostname()}\n"


def test_a_lock_that_keeps_coming_back_stale_is_given_up(tmp_path, monkeypatch):
    target = tmp_path / "r.csv"
    path = lock_path(target)
    stale = f"{_dead_pid()} {socket.gethostname()}\n"
    real = os.open

    def racing(file, flags, *args):
        if Path(file) == path:  # another starting run writes a stale-looking lock each time
            path.write_text(stale)
            raise FileExistsError(errno.EEXIST, "File exists", str(file))
        return real(file, flags, *args)

    monkeypatch.setattr(os, "open", racing)
    with pytest.raises(UsageError) as refused:
        OutputLock(target).__enter__()
    assert str(refused.value) == f"{path}: lock file keeps changing; is another run starting?"


def test_a_lock_that_cannot_be_created_is_an_output_error(tmp_path):
    target = tmp_path / ("x" * 250)  # the lock's name, 13 characters longer, exceeds NAME_MAX
    with pytest.raises(OutputError) as refused:
        OutputLock(target).__enter__()
    assert str(refused.value) == f"{lock_path(target)}: cannot create the lock file (File name too long)"


def test_a_lock_taken_over_by_another_run_is_left_to_it(tmp_path, sleeper):
    """Ours was taken over (deleted as stale, say, by someone who judged wrongly): on leaving, the
    other run's lock stays; a lock already gone is no error."""
    target = tmp_path / "r.csv"
    with OutputLock(target) as lock:
        lock.path.write_text(f"{sleeper.pid} {socket.gethostname()}\n")
    assert lock.path.read_text() == f"{sleeper.pid} {socket.gethostname()}\n"
    lock.path.unlink()
    with OutputLock(target) as lock:
        lock.path.unlink()
    assert not lock.path.exists()


def test_a_lock_removed_between_reading_and_removing_is_no_error(tmp_path, monkeypatch):
    target = tmp_path / "r.csv"
    lock = OutputLock(target).__enter__()
    read = OutputLock._read_holder

    def read_then_lose_it(self):
        holder = read(self)
        self.path.unlink()
        return holder

    monkeypatch.setattr(OutputLock, "_read_holder", read_then_lose_it)
    lock.__exit__(None, None, None)
    assert not lock.path.exists()


def test_a_fifo_is_never_locked_and_its_lock_name_left_alone(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with OutputLock(fifo) as lock:
        assert not lock.path.exists()
    # a file under the lock's name (this process's pid) is not the FIFO's lock: left alone
    lock.path.write_text(f"{os.getpid()} {socket.gethostname()}\n")
    with OutputLock(fifo):
        pass
    assert lock.path.exists()


def test_process_alive_probes_and_sends_no_signal(sleeper, monkeypatch):
    assert _process_alive(sleeper.pid)
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=0.3)  # still running: the probe is signal 0
    assert _process_alive(os.getpid())
    assert not _process_alive(_dead_pid())

    def not_ours(pid, signal):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "kill", not_ours)
    assert _process_alive(sleeper.pid)  # it exists, under another user


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
        (errno.EPERM, "operation not permitted"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EBADF, "closed"),
        (errno.EFBIG, "file too large"),
        (errno.ENOENT, "No such file or directory"),  # any other: the system's words, no "[Errno 2]"
    ],
)
def test_describe_os_error_says_the_cause_in_words(code, said):
    exc = OSError(code, "raw text", "/from/the/error")
    assert describe_os_error(exc, Path("/out/r.csv")) == f"/out/r.csv: cannot write ({said})"
    assert describe_os_error(exc) == f"/from/the/error: cannot write ({said})"
    assert describe_os_error(OSError(code, "raw text")) == f"output: cannot write ({said})"


def test_describe_os_error_without_an_errno():
    assert describe_os_error(OSError("pipe gone"), "stdout") == "stdout: cannot write (pipe gone)"
    short = OSError("100 requested and 50 written")  # numpy's tofile on a full device
    assert (
        describe_os_error(short, "m.npy")
        == "m.npy: cannot write (100 requested and 50 written: the device is probably full)"
    )
    # an errno'd error is said by its errno, whatever its text
    with_errno = OSError(errno.EIO, "100 requested and 50 written")
    assert describe_os_error(with_errno, "m.npy") == f"m.npy: cannot write ({os.strerror(errno.EIO)})"


# ------------------------------------------------------------------------------------- pairing

PNG = Path(__file__).resolve().parents[2] / "sample_data" / "gt" / "case01.png"


def _tree(tmp_path, where: str, names) -> Path | str:
    """The files ``names`` (a copy of one PNG, or text) under a local folder or a ``memory://`` one."""
    if where == "local":
        root = tmp_path / "root"
        for name in names:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(PNG.read_bytes())
        return root
    import uuid

    import fsspec

    memory = fsspec.filesystem("memory")
    root = f"segcli-{uuid.uuid4().hex[:8]}/root"
    for name in names:
        memory.pipe(f"/{root}/{name}", PNG.read_bytes())
    return f"memory://{root}"


def _keys(found) -> dict[str, str]:
    return {key: str(path) for key, path in found.items()}


@pytest.mark.parametrize("where", ["local", "url"])
def test_keys_lose_extension_and_suffix_only_at_the_end(tmp_path, where):
    names = [
        "a.png",
        "sub/b.nii.gz",
        "c_0000.png",
        "x_0000y.png",
        "dXXXX.png",
        "README.txt",
        ".hidden.png",
        ".cache/e.png",
    ]
    root = _tree(tmp_path, where, names)
    assert _keys(find_images(root)) == {
        "a": f"{root}/a.png",
        "sub/b": f"{root}/sub/b.nii.gz",
        "c_0000": f"{root}/c_0000.png",
        "x_0000y": f"{root}/x_0000y.png",
        "dXXXX": f"{root}/dXXXX.png",  # no suffix is removed unless one is given
    }
    assert _keys(find_images(root, suffix="_0000")) == {
        "a": f"{root}/a.png",
        "sub/b": f"{root}/sub/b.nii.gz",
        "c": f"{root}/c_0000.png",
        "x_0000y": f"{root}/x_0000y.png",
        "dXXXX": f"{root}/dXXXX.png",
    }


@pytest.mark.parametrize("where", ["local", "url"])
def test_a_single_file_is_keyed_by_its_name_and_two_files_are_a_pair(tmp_path, where):
    root = _tree(tmp_path, where, ["p/c_0000.png", "g/other.png", "g/notes.txt"])
    assert _keys(find_images(f"{root}/p/c_0000.png", suffix="_0000")) == {"c": f"{root}/p/c_0000.png"}
    assert _keys(find_images(f"{root}/p/c_0000.png")) == {"c_0000": f"{root}/p/c_0000.png"}
    pairing = pair_files(f"{root}/p/c_0000.png", f"{root}/g/other.png")  # two files: a pair whatever their names
    assert [(p.name, str(p.pred), str(p.gt)) for p in pairing.pairs] == [
        ("other", f"{root}/p/c_0000.png", f"{root}/g/other.png")
    ]
    assert pairing.unmatched_pred == [] and pairing.unmatched_gt == []
    with pytest.raises(UsageError) as text:
        find_images(f"{root}/g/notes.txt")
    assert str(text.value) == f"{root}/g/notes.txt: not a supported image file"


@pytest.mark.parametrize("where", ["local", "url"])
def test_two_files_with_one_key_and_a_folder_without_images_are_refused(tmp_path, where):
    root = _tree(tmp_path, where, ["d/a.png", "d/a_0000.tif", "t/notes.txt"])
    assert len(find_images(f"{root}/d")) == 2  # a and a_0000
    with pytest.raises(UsageError) as same:
        find_images(f"{root}/d", suffix="_0000")
    assert str(same.value) == f"{root}/d/a_0000.tif: same name as {root}/d/a.png once the extension is removed"
    with pytest.raises(UsageError) as empty:
        find_images(f"{root}/t")
    assert str(empty.value) == (
        f"{root}/t: no image files found (TIFF, PNG, BMP, JPEG, NPY, NPZ, NIfTI, NRRD, MHA/MHD)"
    )


def test_a_missing_root_and_a_broken_link_root_are_told_apart(tmp_path):
    with pytest.raises(UsageError) as missing:
        find_images(tmp_path / "nothing")
    assert str(missing.value) == f"{tmp_path / 'nothing'}: no such file or directory"
    (tmp_path / "link").symlink_to(tmp_path / "nothing")
    with pytest.raises(UsageError) as broken:
        find_images(tmp_path / "link")
    assert str(broken.value) == f"{tmp_path / 'link'}: a symbolic link that leads nowhere (broken, or a loop)"


@pytest.fixture
def unmatched(tmp_path):
    for name in (
        "pred/a.png",
        "pred/b_0000.png",
        "pred/p_only.png",
        "gt/a.png",
        "gt/aa.png",
        "gt/b.png",
        "gt/g_only.png",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(PNG.read_bytes())
    return tmp_path / "pred", tmp_path / "gt"


def test_unmatched_files_are_all_listed(unmatched):
    pred, gt = unmatched
    with pytest.raises(PairingError) as refused:
        pair_files(pred, gt, pred_suffix="_0000")
    assert str(refused.value) == (
        "3 unmatched file(s) (use --missing skip|empty): "
        f"prediction without ground truth: {pred / 'p_only.png'}; "
        f"ground truth without prediction: {gt / 'aa.png'}; "
        f"ground truth without prediction: {gt / 'g_only.png'}"
    )


def test_missing_skip_and_empty(unmatched):
    pred, gt = unmatched
    skipped = pair_files(pred, gt, pred_suffix="_0000", missing="skip")
    assert skipped.pairs == [Pair("a", pred / "a.png", gt / "a.png"), Pair("b", pred / "b_0000.png", gt / "b.png")]
    assert skipped.unmatched_pred == [pred / "p_only.png"]
    assert skipped.unmatched_gt == [gt / "aa.png", gt / "g_only.png"]
    empty = pair_files(pred, gt, pred_suffix="_0000", missing="empty")
    assert empty.pairs == [  # by name: a GT without prediction takes its place among the others
        Pair("a", pred / "a.png", gt / "a.png"),
        Pair("aa", None, gt / "aa.png"),
        Pair("b", pred / "b_0000.png", gt / "b.png"),
        Pair("g_only", None, gt / "g_only.png"),
    ]
    assert empty.unmatched_pred == [pred / "p_only.png"]
    assert empty.unmatched_gt == [gt / "aa.png", gt / "g_only.png"]
    with pytest.raises(UsageError) as bad:
        pair_files(pred, gt, missing="ignore")
    assert str(bad.value) == "--missing: expected error, skip or empty, got 'ignore'"


def test_no_pair_at_all_is_an_error_even_when_skipping(unmatched):
    pred, gt = unmatched
    with pytest.raises(PairingError) as none:
        pair_files(pred / "p_only.png", gt, missing="skip")  # one file against a folder: keyed, not paired blindly
    assert str(none.value) == f"no prediction in {pred / 'p_only.png'} matches a ground truth in {gt}"


def test_an_image_name_that_is_not_a_regular_file_is_refused_by_what_it_is(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.png").write_bytes(PNG.read_bytes())
    os.mkfifo(tmp_path / "d" / "b.png")
    with pytest.raises(UsageError) as fifo:
        find_images(tmp_path / "d")
    assert str(fifo.value) == (
        f"{tmp_path / 'd' / 'b.png'}: not a regular file; an image name that cannot be read is never skipped silently"
    )
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "c.png").symlink_to(tmp_path / "d" / "b.png")  # a link that leads somewhere: not broken
    with pytest.raises(UsageError, match=r"c\.png: not a regular file;"):
        find_images(tmp_path / "e")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "d.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(UsageError, match=r"d\.png: a broken symbolic link;"):
        find_images(tmp_path / "f")


class _Unexaminable:
    """A directory entry whose type or identity cannot be learnt (behind a folder without
    permission, which root cannot arrange): every other answer is the real entry's."""

    def __init__(self, entry, fails: str) -> None:
        self._entry, self._fails = entry, fails
        self.name, self.path = entry.name, entry.path

    def __getattr__(self, attribute):
        if attribute == self._fails:

            def denied(*args, **kwargs):
                raise PermissionError(errno.EACCES, "Permission denied", self.path)

            return denied
        return getattr(self._entry, attribute)


@pytest.mark.parametrize(("name", "fails"), [("a.png", "is_file"), ("sub", "is_dir"), ("sub", "stat")])
def test_an_entry_that_cannot_be_examined_is_named(tmp_path, monkeypatch, name, fails):
    from segcli.inputs import pairing

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(PNG.read_bytes())
    (tmp_path / "sub" / "b.png").write_bytes(PNG.read_bytes())
    listing = pairing._listing
    monkeypatch.setattr(
        pairing, "_listing", lambda d: [_Unexaminable(e, fails) if e.name == name else e for e in listing(d)]
    )
    with pytest.raises(UsageError) as refused:
        find_images(tmp_path)
    assert str(refused.value) == f"{tmp_path / name}: cannot be examined (Permission denied)"


def test_a_root_that_cannot_be_examined_is_named(tmp_path):
    from segcli.inputs import pairing

    with pytest.raises(UsageError) as refused:  # gone between the checks and the walk
        list(pairing._walk_local(tmp_path / "gone"))
    assert str(refused.value) == f"{tmp_path / 'gone'}: cannot be examined (No such file or directory)"


def test_each_side_drops_its_own_suffix_and_none_by_default(tmp_path):
    for name in ("p/c.png", "p/eXXXX.png", "g/c_0000.png", "g/eXXXX_0000.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(PNG.read_bytes())
    pairing = pair_files(tmp_path / "p", tmp_path / "g", gt_suffix="_0000")
    assert pairing.pairs == [
        Pair("c", tmp_path / "p" / "c.png", tmp_path / "g" / "c_0000.png"),
        Pair("eXXXX", tmp_path / "p" / "eXXXX.png", tmp_path / "g" / "eXXXX_0000.png"),
    ]
    swapped = pair_files(tmp_path / "g", tmp_path / "p", pred_suffix="_0000")
    assert [pair.name for pair in swapped.pairs] == ["c", "eXXXX"]


def test_unmatched_files_on_one_side_only_are_an_error_too(tmp_path):
    for name in ("p/a.png", "g/a.png", "g/b.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(PNG.read_bytes())
    with pytest.raises(PairingError) as refused:
        pair_files(tmp_path / "p", tmp_path / "g")
    assert str(refused.value) == (
        f"1 unmatched file(s) (use --missing skip|empty): ground truth without prediction: {tmp_path / 'g' / 'b.png'}"
    )
    with pytest.raises(PairingError, match=r"^1 unmatched file\(s\).*prediction without ground truth: .*b\.png$"):
        pair_files(tmp_path / "g", tmp_path / "p")
