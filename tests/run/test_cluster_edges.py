"""--scheduler against addresses that are not a Dask scheduler: one line, exit 2, in bounded time.

Each case runs the real CLI in a subprocess against a real local listener on a free port, with
``SEGCLI_SCHEDULER_TIMEOUT`` short, and a hard subprocess timeout so that a hang fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
HARD_LIMIT = 40  # seconds: far above what any case may take, far below a hang


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges")
    for side in ("pred", "gt"):
        (root / side).mkdir()
        mask = np.zeros((16, 16), np.uint8)
        mask[4:10, 4:10] = 255
        Image.fromarray(mask).save(root / side / "a.png")
    return root


def segcli(folders, address, *, timeout="1", limit=HARD_LIMIT):
    """Run ``segcli score`` on ``address``: (exit code, stderr lines, seconds taken)."""
    env = {**os.environ, "SEGCLI_SCHEDULER_TIMEOUT": timeout}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    command = [sys.executable, "-m", "segcli", "score", str(folders / "pred"), str(folders / "gt")]
    start = time.monotonic()
    done = subprocess.run(
        [*command, "--scheduler", address], capture_output=True, text=True, env=env, cwd=ROOT, timeout=limit
    )
    return done.returncode, done.stderr.splitlines(), time.monotonic() - start


@contextlib.contextmanager
def listener(behaviour):
    """A TCP listener on a free port; each connection is handed to ``behaviour(conn)`` on a thread."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()
    accepted = threading.Event()
    conns = []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conns.append(conn)
            accepted.set()
            threading.Thread(target=behaviour, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in conns:
            conn.close()
        server.close()


def silent(conn, stop):
    stop.wait()


def garbage(conn, stop):
    rng = np.random.default_rng(1)
    with contextlib.suppress(OSError):
        while not stop.is_set():
            conn.sendall(rng.bytes(4096))


def assert_one_line(lines, *fragments):
    assert len(lines) == 1, lines
    assert lines[0].startswith("segcli: error: --scheduler"), lines
    assert "Traceback" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines


@pytest.mark.parametrize("address", ["bogus", "http://x", "tcp://host", "tcp://127.0.0.1:notaport"])
def test_a_malformed_address_is_refused_at_once(folders, address):
    code, lines, took = segcli(folders, address)
    assert code == 2
    assert_one_line(lines, repr(address), "not a Dask scheduler address", "tcp://host:8786")
    assert took < 10


def test_address_forms():
    from segcli.errors import UsageError
    from segcli.run.cluster import check_address

    for good in ("tcp://127.0.0.1:8786", " 127.0.0.1:8786 ", "tcp://[::1]:8786", "tls://h:1", "inproc://x/1/2"):
        assert check_address(good) == good.strip()
    for bad in ("", "  ", "bogus", "http://x:1", "tcp://h", "tcp://[::1"):
        with pytest.raises(UsageError, match="--scheduler"):
            check_address(bad)


def test_a_listener_that_never_answers(folders):
    with listener(silent) as (address, accepted):
        code, lines, took = segcli(folders, address)
    assert accepted.is_set()
    assert code == 2
    assert_one_line(lines, address, "not a Dask scheduler", "no Dask answer within 1 s")
    assert took < 10


def test_an_http_server(folders):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address = f"tcp://127.0.0.1:{server.server_address[1]}"
        code, lines, took = segcli(folders, address)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert code == 2
    assert_one_line(lines, address, "not a Dask scheduler")
    assert took < 10


def test_a_listener_that_answers_garbage(folders):
    with listener(garbage) as (address, _):
        code, lines, took = segcli(folders, address)
    assert code == 2
    assert_one_line(lines, address, "not a Dask scheduler", "not Dask's protocol")
    assert "out of memory" not in lines[0]
    assert took < 10


def test_a_closed_port_is_bounded_by_the_timeout(folders):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    code, lines, took = segcli(folders, f"tcp://127.0.0.1:{port}")
    assert code == 2
    assert_one_line(lines, f"127.0.0.1:{port}", "cannot connect", "refused")
    assert took < 8


def test_a_bad_timeout_setting(folders):
    code, lines, _ = segcli(folders, "tcp://127.0.0.1:9", timeout="soon")
    assert code == 2
    assert len(lines) == 1 and "SEGCLI_SCHEDULER_TIMEOUT" in lines[0], lines


def test_a_worker_address_is_not_the_scheduler(folders):
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        worker = next(iter(cluster.scheduler_info["workers"]))
        code, lines, took = segcli(folders, worker, timeout="5")
    assert code == 2
    assert_one_line(lines, worker, "Worker, not a Dask scheduler")
    assert took < 15


def test_sigterm_while_waiting_for_an_answer(folders):
    """SIGTERM at several moments of the wait (the old code's traceback and 20 s delay came at
    some of them only): each run ends at once, exit 143, one line."""
    env = {**os.environ, "SEGCLI_SCHEDULER_TIMEOUT": "30"}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    command = [sys.executable, "-m", "segcli", "score", str(folders / "pred"), str(folders / "gt")]
    delays = (0.2, 1.0, 2.0, 3.5)
    with listener(silent) as (address, accepted):
        processes = [
            subprocess.Popen(
                [*command, "--scheduler", address],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=ROOT,
            )
            for _ in delays
        ]
        results = []
        try:
            assert accepted.wait(HARD_LIMIT), "segcli never connected"
            time.sleep(1.0)  # every process into the wait for an answer
            start = time.monotonic()
            for delay, process in zip(delays, processes, strict=True):
                time.sleep(max(0.0, start + delay - time.monotonic()))
                process.send_signal(signal.SIGTERM)
            for process in processes:
                _, stderr = process.communicate(timeout=HARD_LIMIT)
                results.append((process.returncode, stderr.splitlines()))
            took = time.monotonic() - start
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
    assert results == [(143, ["segcli: error: terminated"])] * len(delays)
    assert took < max(delays) + 5
