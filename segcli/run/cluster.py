"""Work on a Dask cluster: each pair (score), image (weightmap) or label file (classweights) a
task, read and processed on a worker, only its small result back.

segcli writes no scheduler of its own: ``--scheduler ADDRESS`` connects a
``dask.distributed.Client`` to a cluster the user already runs (``dask scheduler`` /
``dask worker``, dask-jobqueue on Slurm or PBS, dask-kubernetes, a ``LocalCluster``). Results come
back in input order, through the same failure handling as a local run: an item whose task raises
or whose worker is lost (after the scheduler's own retries) becomes a failure naming its file;
the others go on. Workers must see the files (a shared file system, or fsspec URLs such as
``s3://`` that every worker can read) and have segcli installed. Run workers with one thread each
(``dask worker ADDRESS --nthreads 1 --nworkers N``): the work is numpy code that a process per
core parallelises best.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator

from segcli.errors import UsageError

EXTRA = "pip install 'segcli[dask]'"


TIMEOUT_ENV = "SEGCLI_SCHEDULER_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
ADDRESS_FORM = "tcp://host:8786 (or tls://host:port, or a bare host:port, which Dask reads as tcp://)"


def connect_timeout() -> float:
    """Seconds to reach the scheduler and hear it answer: ``$SEGCLI_SCHEDULER_TIMEOUT``, else 10."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 and math.isfinite(value)):
        raise UsageError(f"{TIMEOUT_ENV}: expected a number of seconds above 0, got {raw!r}")
    return value


def check_address(address: str) -> str:
    """``address`` stripped, when it is one Dask can connect to, else a usage error naming
    ``--scheduler`` and the form an address takes.

    Accepted: ``SCHEME://LOCATION`` for every scheme ``distributed`` has a transport for
    (``tcp``, ``tls``, ``ws``, ``wss``, ``ucx`` when installed, ``inproc`` for a scheduler in the
    same process), with ``host:port`` for those that have one (an IPv6 host in brackets:
    ``tcp://[::1]:8786``); a bare ``host:port`` is Dask's default scheme, ``tcp://``. Refused before
    any work: an empty address, an unknown scheme (``http://``), a missing or bad port (``bogus``).
    Needs ``distributed`` (a usage error naming the extra without it).
    """
    if not isinstance(address, str) or not address.strip():
        raise UsageError(f"--scheduler: expected an address such as {ADDRESS_FORM}, got {address!r}")
    address = address.strip()
    try:
        from distributed.comm.addressing import parse_address
        from distributed.comm.registry import get_backend
    except ImportError:
        raise UsageError(f"--scheduler needs dask.distributed: {EXTRA}") from None
    problem = None
    try:
        scheme, location = parse_address(address)
        backend = get_backend(scheme)
    except (ValueError, TypeError):
        problem = f"unknown scheme {address.partition('://')[0]!r}"
    else:
        try:
            backend.get_address_host_port(location)
        except NotImplementedError:  # inproc://: no host and port to check
            pass
        except (ValueError, TypeError) as exc:
            problem = str(exc).split(";")[0]
    if problem is not None:
        raise UsageError(
            f"--scheduler {address!r} is not a Dask scheduler address ({problem}); expected {ADDRESS_FORM}"
        )
    return address


def connect(address: str, modules: tuple[str, ...] = ("segcli.run.pair",)):
    """A ``Client`` for ``address`` (``tcp://host:8786``, see ``check_address``) whose workers have
    imported ``modules`` (the code their tasks run).

    One usage error (exit 2) for each way it cannot start, within about the connect timeout
    (``connect_timeout``) whatever answers: Dask missing (naming the extra), a malformed address,
    nothing listening, something that accepts the connection but never answers or answers
    something other than Dask (``not a Dask scheduler``), a Dask worker's address instead of the
    scheduler's. The address is probed first on a connection of its own, since ``Client`` itself
    waits forever for a peer that never completes Dask's handshake.
    """
    address = check_address(address)
    timeout = connect_timeout()
    _probe_scheduler(address, timeout)
    from distributed import Client

    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--scheduler {address}: cannot connect ({exc})") from None
    prepare_workers(client, modules)
    return client


def _probe_scheduler(address: str, timeout: float) -> None:
    """Raise a usage error unless ``address`` answers Dask's handshake and says it is a scheduler,
    all within ``timeout`` seconds (plus a little for the probe to wind down)."""
    outcome: list = []

    def probe() -> None:
        try:
            outcome.append(asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout + 2)))
        except BaseException as exc:  # reported by the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=probe, name="segcli-scheduler-probe", daemon=True)
    thread.start()
    thread.join(timeout + 5)  # interrupted by SIGTERM / Ctrl-C: the caller's handler runs at once
    found = outcome[0] if outcome else TimeoutError()
    if isinstance(found, dict):
        kind = found.get("type")
        if kind == "Scheduler":
            return
        what = f"a Dask {kind}" if isinstance(kind, str) and kind else "a Dask server"
        raise UsageError(f"--scheduler {address}: {what}, not a Dask scheduler (give the scheduler's address)")
    if isinstance(found, _Connected):
        raise UsageError(
            f"--scheduler {address}: not a Dask scheduler (it accepted the connection but "
            + (
                f"gave no Dask answer within {timeout:g} s)"
                if isinstance(found.error, TimeoutError)
                else f"answered something that is not Dask's protocol: {type(found.error).__name__})"
            )
        )
    if isinstance(found, (TimeoutError, asyncio.TimeoutError, OSError)):
        reason = str(found) or f"no answer within {timeout:g} s"
        raise UsageError(f"--scheduler {address}: cannot connect ({reason})")
    raise UsageError(f"--scheduler {address}: cannot connect ({type(found).__name__}: {found})")


class _Connected(Exception):
    """The address accepted a connection, then failed Dask's handshake or identity request."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


async def _identity(address: str, timeout: float) -> object:
    """The ``identity`` answer of the Dask server at ``address``: a dict with its ``type``.

    First the bare transport, retried until ``timeout`` as Dask does (a scheduler still starting):
    failing there is ``OSError`` / ``TimeoutError``, nothing to talk to. Then Dask's handshake and
    one request on a connection of their own: failing there (no answer, garbage) is
    ``_Connected``, something that is not a Dask server."""
    from distributed.comm import connect as dask_connect
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    args = Security().get_connection_args("client")
    scheme, location = parse_address(address)
    connector = get_backend(scheme).get_connector()
    while True:
        try:
            bare = await asyncio.wait_for(
                connector.connect(location, deserialize=False, **args), max(0.01, deadline - loop.time())
            )
            break
        except (OSError, asyncio.TimeoutError) as exc:  # refused, unresolvable, unreachable
            left = deadline - loop.time()
            if left <= 0.05:
                root = exc.__cause__ or exc  # Dask wraps the socket's error in its own
                detail = getattr(root, "strerror", None) or str(root) or "no connection"
                raise OSError(f"{detail}; tried for {timeout:g} s") from None
            await asyncio.sleep(min(0.2, left / 2))
        except Exception as exc:  # e.g. tls:// without certificates in Dask's configuration
            raise OSError(f"{type(exc).__name__}: {exc}") from None
    bare.abort()
    try:
        comm = await asyncio.wait_for(dask_connect(address, timeout=timeout, **args), deadline - loop.time())
    except asyncio.TimeoutError:
        raise _Connected(TimeoutError()) from None
    except Exception as exc:  # garbage frames: MemoryError, ValueError, struct.error, a closed stream
        raise _Connected(exc) from None
    try:
        await comm.write({"op": "identity", "reply": True})
        answer = await asyncio.wait_for(comm.read(), max(0.01, deadline - loop.time()))
        with contextlib.suppress(Exception):
            await comm.write({"op": "close", "reply": False})
    except asyncio.TimeoutError:
        raise _Connected(TimeoutError()) from None
    except Exception as exc:
        raise _Connected(exc) from None
    finally:
        comm.abort()
    if not isinstance(answer, dict):
        raise _Connected(TypeError(f"answered {type(answer).__name__}"))
    return answer


def prepare_workers(client, modules: tuple[str, ...] = ("segcli.run.pair",)) -> None:
    """What the CLI does for its own processes, once per worker: keep freed large blocks in the
    heap (``segcli.run.allocator``; without it the workers spend seconds per thousand pairs in page
    faults) and import the scoring code (``modules``) before the first task."""
    from segcli.run.allocator import keep_freed_memory

    try:
        client.run(_warm_worker, keep_freed_memory, modules)
    except Exception as exc:  # a worker without segcli, or one that cannot unpickle our function
        client.close()
        raise UsageError(
            f"the Dask workers cannot run segcli ({type(exc).__name__}: {exc}); install it there"
        ) from None


def _warm_worker(setting: Callable[[], bool], modules: tuple[str, ...]) -> bool:
    import importlib

    for module in modules:
        importlib.import_module(module)
    return setting()


def threads_per_worker(client) -> int:
    """The most tasks one worker process runs at once (its thread count)."""
    counts = list(client.nthreads().values())
    return max(counts) if counts else 1


def map_on_cluster(
    client,
    function: Callable,
    items: list,
    *,
    on_lost: Callable[[object, BaseException], object],
    chunksize: int | None = None,
    window: int | None = None,
) -> Iterator:
    """``function(item)`` for every item as Dask tasks, results in item order.

    Items travel in chunks (default: enough for about 8 tasks per worker thread, at most 32 items
    a chunk), since each task costs the scheduler and the client time of their own; at most
    ``window`` chunks are in flight (default: 4 per worker thread). A chunk whose task raises
    (segcli's own functions return failures instead of raising, so this means the infrastructure:
    a worker lost more often than the scheduler allows, a cancelled task) is run again item by
    item, and an item that fails alone yields ``on_lost(item, error)``.
    """
    from segcli.run.pool import _run_chunk

    threads = max(1, sum(client.nthreads().values()))
    if chunksize is None:
        chunksize = max(1, min(32, len(items) // (8 * threads)))
    window = window or 4 * threads
    chunks = [items[i : i + chunksize] for i in range(0, len(items), chunksize)]
    pending: deque = deque()
    upcoming = iter(chunks)
    try:
        while True:
            while len(pending) < window:
                chunk = next(upcoming, None)
                if chunk is None:
                    break
                pending.append((chunk, client.submit(_run_chunk, function, chunk, pure=False)))
            if not pending:
                return
            chunk, future = pending.popleft()
            try:
                results = future.result()
            except Exception:  # KilledWorker, CancelledError, a lost connection: item by item
                results = None
            finally:
                future.release()
            if results is not None:
                yield from results
                continue
            for item in chunk:
                single = client.submit(function, item, pure=False)
                try:
                    yield single.result()
                except Exception as exc:
                    yield on_lost(item, exc)
                finally:
                    single.release()
    finally:
        for _, future in pending:
            future.cancel()
