"""segcli/results/outputs.py: ``check_output_file`` and ``check_output_dir``'s messages (``--out`` by
default, the parent's problem, a directory that cannot be written: "permission denied" or "read-only
file system" from the mount flag); the output lock (its file's content and mode, a lock beside an
output in a folder not made yet, a live holder refused by pid and host, a lock of another host never
taken over, a stale one taken over with ``stale`` = its pid, a racing run that keeps recreating it,
an unreadable lock, a lock that cannot be created, a FIFO never locked); ``_process_alive`` (probes,
sends no signal); ``describe_os_error``'s causes in words and the file it names.

Root passes every permission check, so an unwritable directory is a stand-in ``os.access`` (as in
tests/run/test_faults.py). Expectations are worked out by hand from the README's guarantees
("Nothing lost, nothing clobbered")."""

from __future__ import annotations

import collections
import errno
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from segcli.errors import OutputError, OutputExistsError, UsageError
from segcli.results.outputs import (
    OutputLock,
    _process_alive,
    _why_not_writable,
    check_output_dir,
    check_output_file,
    describe_os_error,
    lock_path,
)


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
        with monkeypatch.context() as here:  # relative: a socket's path is limited to 107 bytes, tmp_path may be longer
            here.chdir(tmp_path)
            server.bind("sock")
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
