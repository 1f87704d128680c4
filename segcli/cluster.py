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

from collections import deque
from collections.abc import Callable, Iterator

from segcli.errors import UsageError

EXTRA = "pip install 'segcli[dask]'"


def connect(address: str, modules: tuple[str, ...] = ("segcli.scoring",)):
    """A ``Client`` for ``address`` (``tcp://host:8786``) whose workers have imported ``modules``
    (the code their tasks run); one usage error naming the extra when Dask is missing, or naming
    the address when nothing answers."""
    if not isinstance(address, str) or not address.strip():
        raise UsageError(f"--scheduler: expected an address such as tcp://host:8786, got {address!r}")
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(f"--scheduler needs dask.distributed: {EXTRA}") from None
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--scheduler {address}: cannot connect ({exc})") from None
    prepare_workers(client, modules)
    return client


def prepare_workers(client, modules: tuple[str, ...] = ("segcli.scoring",)) -> None:
    """What the CLI does for its own processes, once per worker: keep freed large blocks in the
    heap (``segcli.allocator``; without it the workers spend seconds per thousand pairs in page
    faults) and import the scoring code (``modules``) before the first task."""
    from segcli.allocator import keep_freed_memory

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
    from segcli.pool import _run_chunk

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
