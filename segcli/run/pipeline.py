"""Scoring many pairs: stream one outcome per pair, in pair order.

On the CPU, pairs are spread over worker processes, a few pairs a task (reading and computing
overlap across them); each worker runs ``segcli.run.pair.score_pair`` and returns only the small
record, so memory stays bounded by the pairs in flight. On a GPU, worker processes read and
interpret pairs while the main process scores batches of same-shaped pairs on the device
(``segcli.run.device_batches``). On a Dask cluster every pair is a task (``segcli.run.cluster``). A pair that
cannot be scored, for whatever reason (a bad file, an unexpected exception, a worker process that
dies), yields a ``Failure`` naming the file; the others go on, on a new worker process where one
died.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial

from segcli.inputs.pairing import Pair
from segcli.run.outcomes import Failure, Outcome
from segcli.run.pair import prepare_pair, score_pair
from segcli.run.pool import WORKER_DIED, map_isolated
from segcli.settings import ScoreSettings


def total_memory() -> int | None:
    """Physical memory in bytes, where the system says."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def default_workers() -> int:
    """One worker per CPU this process may use (affinity and cgroup quota: ``segcli.engine.cpus``)."""
    from segcli.engine.cpus import available_cpus

    return available_cpus()[0]


def score_pairs(
    pairs: list[Pair],
    settings: ScoreSettings,
    *,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
    torch_device: str | None = None,
    batch_size: int = 16,
    client=None,
    threads: int | None = None,
) -> Iterator[Outcome]:
    """Yield one outcome per pair, in the order given, scoring up to ``workers`` pairs at once.

    With a ``client`` (``dask.distributed.Client``) every pair is a task on that cluster.
    With a ``torch_device`` (``cuda:0``; ``cpu`` runs the same path with torch on the CPU, for
    tests) and binary mode, worker processes read the pairs and compute the CPU-only scores
    (surface distances, weight-map losses) while the main process scores batches of up to
    ``batch_size`` same-shaped pairs on the device (counts and the other losses).
    Each worker's own transforms use ``threads`` threads (default: the CPUs left over when there
    are fewer pairs than CPUs, ``segcli.engine.cpus.plan_cpus``); threads change no value.
    """
    if client is not None:  # a dask.distributed Client: every pair a task on the cluster
        from segcli.run.cluster import map_on_cluster

        for outcome in map_on_cluster(client, partial(score_pair, settings=settings), pairs, on_lost=_lost_on_cluster):
            yield outcome
            if on_done:
                on_done()
        return
    from segcli.engine.cpus import plan_cpus

    plan = plan_cpus(len(pairs), workers)
    workers = plan.workers if workers is None else workers
    threads = plan.threads_per_worker if threads is None else threads
    on_cpu = settings.thresholds is not None or any(pair.raters for pair in pairs)
    if torch_device is not None and settings.num_classes is None and not on_cpu:
        from segcli.run.device_batches import score_on_device

        # Workers read and interpret the pairs (and compute what has no device form) while the
        # main process scores batches of them on the device.
        prepared = map_isolated(
            partial(prepare_pair, settings=settings),
            pairs,
            workers=workers,
            on_crash=worker_died,
            window=2 * batch_size + workers,
            threads=threads,
        )
        yield from score_on_device(prepared, settings, torch_device, batch_size=batch_size, on_done=on_done)
        return
    work = partial(score_pair, settings=settings)
    for outcome in map_isolated(
        work,
        pairs,
        workers=min(workers, len(pairs)),
        on_crash=worker_died,
        window=4 * workers,
        # a few pairs a task: fewer round trips between the processes, results still in order
        chunksize=max(1, min(8, len(pairs) // (workers * 8))),
        threads=threads,
    ):
        yield outcome
        if on_done:
            on_done()


def _lost_on_cluster(pair: Pair, error: BaseException) -> Failure:
    where = pair.pred if pair.pred is not None else pair.gt
    return Failure(pair.name, f"{where}: the cluster could not score it ({type(error).__name__}: {error})")


def worker_died(pair: Pair) -> Failure:
    """The failure of a pair whose worker process died (out-of-memory killer, a crash)."""
    return Failure(pair.name, f"{pair.pred if pair.pred is not None else pair.gt}: {WORKER_DIED}")
