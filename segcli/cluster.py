"""Scoring on a Dask cluster: each pair a task, read and scored on a worker, only its record back.

segcli writes no scheduler of its own: ``--scheduler ADDRESS`` connects a
``dask.distributed.Client`` to a cluster the user already runs (``dask scheduler`` /
``dask worker``, dask-jobqueue on Slurm or PBS, dask-kubernetes, a ``LocalCluster``). Records come
back in pair order, through the same failure handling as a local run: a pair whose task raises or
whose worker is lost (after the scheduler's own retries) becomes a failure record naming its file;
the others are scored. Workers must see the files (a shared file system) and have segcli
installed. Run workers with one thread each (``dask worker ADDRESS --nthreads 1 --nworkers N``):
scoring is numpy work that a process per core parallelises best.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from segcli.errors import UsageError

EXTRA = "pip install 'segcli[dask]'"


def connect(address: str):
    """A ``Client`` for ``address`` (``tcp://host:8786``); one usage error naming the extra when
    Dask is missing, or naming the address when nothing answers."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(f"--scheduler needs dask.distributed: {EXTRA}") from None
    try:
        return Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--scheduler {address}: cannot connect ({exc})") from None


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
    window: int | None = None,
    retries: int = 0,
) -> Iterator:
    """``function(item)`` for every item as Dask tasks, results in item order, at most ``window``
    in flight (default: 4 per worker thread). A task that raises (segcli's own functions return
    failures instead of raising, so this means the infrastructure: a worker lost more often than
    the scheduler allows, a cancelled task) yields ``on_lost(item, error)``."""
    if window is None:
        window = max(4, 4 * sum(client.nthreads().values()))
    pending: deque = deque()
    upcoming = iter(items)
    try:
        while True:
            while len(pending) < window:
                item = next(upcoming, None)
                if item is None:
                    break
                pending.append((item, client.submit(function, item, pure=False, retries=retries)))
            if not pending:
                return
            item, future = pending.popleft()
            try:
                yield future.result()
            except Exception as exc:  # KilledWorker, CancelledError, a lost connection
                yield on_lost(item, exc)
            finally:
                future.release()
    finally:
        for _, future in pending:
            future.cancel()


def score_pairs_on_cluster(pairs: list, settings, client, *, on_done: Callable[[], None] | None = None) -> Iterator:
    """``score_pair`` of every pair on the cluster, in order (the pipeline's outcomes)."""
    from functools import partial

    from segcli.pipeline import Failure, score_pair

    def lost(pair, error: BaseException) -> Failure:
        where = pair.pred if pair.pred is not None else pair.gt
        return Failure(pair.name, f"{where}: the cluster could not score it ({type(error).__name__}: {error})")

    for outcome in map_on_cluster(client, partial(score_pair, settings=settings), pairs, on_lost=lost):
        yield outcome
        if on_done:
            on_done()
