"""Worker processes that one task can never take down with the others, and that never outlive
the run.

A task's own exceptions are its function's business (it returns a result for them). What this
module adds:

* surviving a worker process that dies (the out-of-memory killer, a crash in native code): the
  results already finished are kept, the tasks that were in flight are run again one at a time in
  a process of their own, so only the one that kills its process again gets ``on_crash(task)``,
  and the rest go on in a new pool;
* stopping cleanly: workers ignore Ctrl-C (the main process handles it), die with the main
  process even when that is killed outright (Linux's parent-death signal), and are killed, not
  waited for, when the run stops early (Ctrl-C, SIGTERM, an error, ``--fail-fast``);
* bounded memory: at most ``window`` chunks in flight or waiting, results in task order.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

WORKER_DIED = "the worker process died while processing it (killed, e.g. out of memory, or crashed)"

T = TypeVar("T")
R = TypeVar("R")


def _worker_init(threads: int = 1) -> None:
    """In each worker: Ctrl-C is the main process's to handle, the worker dies with the main
    process (no orphans), and its own exact transforms may use ``threads`` threads."""
    from segcli.engine.cpus import set_threads

    set_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


def new_pool(workers: int, threads: int = 1) -> ProcessPoolExecutor:
    """A process pool whose workers ignore Ctrl-C, die with the main process and may each use
    ``threads`` threads."""
    return ProcessPoolExecutor(max_workers=max(1, workers), initializer=_worker_init, initargs=(threads,))


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the workers now: no orphans, no waiting for a long task.

    The pool's manager thread may trip over the pipes of the workers just killed (a closed file
    descriptor): that is the stop itself, not an error to print, so it is kept quiet here.
    """
    processes = list((pool._processes or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    previous = threading.excepthook

    def quiet(args) -> None:
        if args.thread is not manager and not isinstance(args.exc_value, OSError):
            previous(args)

    threading.excepthook = quiet
    try:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join(timeout=5)
        if manager is not None and manager is not threading.current_thread():
            manager.join(timeout=5)
    finally:
        threading.excepthook = previous


def _run_chunk(function: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [function(task) for task in chunk]


def map_isolated(
    function: Callable[[T], R],
    tasks: Sequence[T],
    *,
    workers: int,
    on_crash: Callable[[T], R],
    chunksize: int = 1,
    window: int | None = None,
    threads: int = 1,
) -> Iterator[R]:
    """``function(task)`` for every task, in the order given, in up to ``workers`` processes.

    ``function`` must be picklable (a module-level function or a ``functools.partial`` of one).
    A task whose worker process dies yields ``on_crash(task)`` (called in this process). At most
    ``window`` chunks of ``chunksize`` tasks (default ``2 * workers``) are in flight or waiting,
    which bounds memory and the work redone after a crash. Each worker may use ``threads``
    threads (``segcli.engine.cpus.set_threads``). With ``workers <= 1`` or a single task the tasks run
    in this process, with ``threads`` threads.
    """
    if workers <= 1 or len(tasks) <= 1:
        from segcli.engine.cpus import set_threads
        from segcli.engine.cpus import threads as current_threads

        previous = current_threads()
        set_threads(threads)
        try:
            yield from map(function, tasks)
        finally:
            set_threads(previous)
        return
    size = max(1, chunksize)
    chunks = [list(tasks[i : i + size]) for i in range(0, len(tasks), size)]
    window = max(1, window or 2 * workers)
    workers = min(workers, len(chunks))
    pool = new_pool(workers, threads)
    pending: deque = deque()
    try:
        upcoming = iter(chunks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                chunk = next(upcoming, None)
                if chunk is None:
                    exhausted = True
                    break
                try:
                    pending.append((chunk, pool.submit(_run_chunk, function, chunk)))
                except BrokenProcessPool:
                    pending.append((chunk, None))
            if not pending:
                return
            chunk, future = pending.popleft()
            if future is not None:
                try:
                    yield from future.result()
                    continue
                except BrokenProcessPool:
                    pass
            suspects = [(chunk, future), *pending]
            pending.clear()
            stop_pool(pool)
            yield from _isolate(function, suspects, on_crash, threads)
            pool = new_pool(workers, threads)
    finally:
        stop_pool(pool)


def _isolate(function: Callable[[T], R], suspects: list, on_crash: Callable[[T], R], threads: int = 1) -> Iterator[R]:
    """The chunks in flight when a worker died, in order: those that finished as they were, the
    others task by task in a one-worker pool, replaced after each crash."""
    single = None
    try:
        for chunk, future in suspects:
            if future is not None and future.done() and not future.cancelled() and future.exception() is None:
                yield from future.result()
                continue
            for task in chunk:
                if single is None:
                    single = new_pool(1, threads)
                try:
                    result = single.submit(function, task).result()
                except BrokenProcessPool:
                    stop_pool(single)
                    single = None
                    result = on_crash(task)
                yield result
    finally:
        if single is not None:
            stop_pool(single)
