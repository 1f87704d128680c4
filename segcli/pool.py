"""Worker processes that one task can never take down with the others.

A task's own exceptions are its function's business (it returns a result for them). What this
module adds is surviving a worker process that dies (the out-of-memory killer, a crash in native
code): the tasks in flight are run again one at a time in a process of their own, so the one
that kills its process is found and gets ``on_crash(task)``, and the rest go on in a new pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

WORKER_DIED = "the worker process died while processing it (killed, e.g. out of memory, or crashed)"

T = TypeVar("T")
R = TypeVar("R")


def map_isolated(
    function: Callable[[T], R],
    tasks: Sequence[T],
    *,
    workers: int,
    on_crash: Callable[[T], R],
    chunksize: int = 1,
) -> Iterator[R]:
    """``function(task)`` for every task, in the order given, in up to ``workers`` processes.

    ``function`` must be picklable (a module-level function or a ``functools.partial`` of one).
    A task whose worker process dies yields ``on_crash(task)`` (called in this process). At most
    ``2 * workers`` chunks of ``chunksize`` tasks are in flight, which bounds the work redone
    after a crash. With ``workers <= 1`` the tasks run in this process.
    """
    if workers <= 1 or len(tasks) <= 1:
        yield from map(function, tasks)
        return
    chunks = [list(tasks[i : i + chunksize]) for i in range(0, len(tasks), max(1, chunksize))]
    done: dict[int, list[R]] = {}
    waiting = deque(range(len(chunks)))
    emitted = 0
    while waiting:
        suspects: list[int] = []
        for index, results in _until_broken(function, chunks, waiting, min(workers, len(chunks)), suspects):
            done[index] = results
            while emitted in done:
                yield from done.pop(emitted)
                emitted += 1
        for index in sorted(suspects):
            done[index] = list(_one_at_a_time(function, chunks[index], on_crash))
        while emitted in done:
            yield from done.pop(emitted)
            emitted += 1


def _run_chunk(function: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [function(task) for task in chunk]


def _until_broken(
    function: Callable[[T], R], chunks: list[list[T]], waiting: deque[int], workers: int, suspects: list[int]
) -> Iterator[tuple[int, list[R]]]:
    """Run waiting chunks in one pool until all are done or the pool breaks; the chunks in
    flight when it broke are appended to ``suspects``."""
    pool = ProcessPoolExecutor(max_workers=workers)
    running: dict[Future, int] = {}
    broken = False
    try:
        while (waiting or running) and not broken:
            while waiting and len(running) < 2 * workers and not broken:
                try:
                    running[pool.submit(_run_chunk, function, chunks[waiting[0]])] = waiting[0]
                    waiting.popleft()
                except BrokenProcessPool:  # a worker died before its chunk was collected
                    broken = True
            if not running:
                break
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                index = running.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool:
                    suspects.append(index)
                    broken = True
                    continue
                yield index, results
        suspects.extend(running.values())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _one_at_a_time(function: Callable[[T], R], tasks: list[T], on_crash: Callable[[T], R]) -> Iterator[R]:
    """Each task alone in a one-worker pool, replaced after a crash."""
    pool = ProcessPoolExecutor(max_workers=1)
    try:
        for task in tasks:
            try:
                yield pool.submit(function, task).result()
            except BrokenProcessPool:
                yield on_crash(task)
                pool.shutdown(wait=True)
                pool = ProcessPoolExecutor(max_workers=1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
