"""How many CPUs a run may use, and how it spreads them: worker processes x threads each.

The CPUs a process may use are the fewest of: the cores in its CPU affinity (``taskset``,
Slurm and container CPU sets) and its cgroup CPU quota (Docker/Kubernetes ``--cpus``; cgroup v2
``cpu.max`` or v1 ``cpu.cfs_quota_us``), rounded up. Many pairs: one worker process per CPU, one
thread each (pairs are the parallel work). Fewer pairs than CPUs (volumes): one worker per pair,
and each worker's distance transforms and nearest-point searches use the CPUs left over, so that
workers x threads stays close to the machine; ``OMP_NUM_THREADS`` caps the threads. ``--workers``
chooses the worker processes (at most one per pair). Threads change no value: every exact method
returns the same numbers on any number of threads.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CpuPlan:
    """The CPUs found (and what limited them), the worker processes and the threads of each."""

    cpus: int
    source: str  # "affinity", "cgroup quota" or "cpu count"
    workers: int
    threads_per_worker: int

    def record(self) -> dict:
        """The plan as the run's settings record says it."""
        return {
            "cpus": self.cpus,
            "cpus_from": self.source,
            "workers": self.workers,
            "threads_per_worker": self.threads_per_worker,
        }


def _cgroup_quota(root: Path = CGROUP_ROOT, membership: str | None = None) -> float | None:
    """CPUs allowed by the process's cgroup quota (quota / period), None when unlimited or unknown.

    ``membership``: the text of ``/proc/self/cgroup`` (read when None); ``root``: the cgroup mount.
    """
    if membership is None:
        try:
            membership = Path("/proc/self/cgroup").read_text()
        except OSError:
            membership = ""
    v2, v1 = "", ""  # pragma: no mutate (a folder that does not exist reads as the root)
    for line in membership.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if line.startswith("0::"):
            v2 = path.strip().lstrip("/")
        elif "cpu" in controllers.split(","):
            v1 = path.strip().lstrip("/")
    for folder in dict.fromkeys([root / v2, root]):  # cgroup v2: "max 100000" or "150000 100000"
        try:
            fields = (folder / "cpu.max").read_text().split()
            return int(fields[0]) / int(fields[1]) if fields[0] != "max" else None
        except (OSError, ValueError, IndexError):
            continue
    for folder in dict.fromkeys([root / "cpu" / v1, root / "cpu"]):  # cgroup v1
        try:
            quota = int((folder / "cpu.cfs_quota_us").read_text())
            period = int((folder / "cpu.cfs_period_us").read_text())
            return quota / period if quota > 0 and period > 0 else None
        except (OSError, ValueError):
            continue
    return None


def available_cpus(*, quota: float | None = -1.0) -> tuple[int, str]:
    """The CPUs this process may use and what limited them (``quota`` for tests; -1: read it).

    >>> count, source = available_cpus(quota=None)
    >>> count >= 1 and source in ("affinity", "cpu count")
    True
    >>> available_cpus(quota=0.5)
    (1, 'cgroup quota')
    """
    if hasattr(os, "sched_getaffinity"):
        count, source = len(os.sched_getaffinity(0)), "affinity"
    else:  # pragma: no cover (not Linux)
        count, source = os.cpu_count() or 1, "cpu count"
    if quota == -1.0:
        quota = _cgroup_quota()
    if quota is not None and quota > 0 and math.ceil(quota) < count:
        count, source = max(1, math.ceil(quota)), "cgroup quota"
    return count, source


def plan_cpus(
    items: int, workers: int | None = None, *, cpus: tuple[int, str] | None = None, max_threads: int | None = None
) -> CpuPlan:
    """Workers and threads for ``items`` units of work (pairs, files).

    ``workers``: as asked (``--workers``), else one per CPU; never more than the items. Threads:
    one per worker when the items alone can keep every CPU busy; with fewer items than CPUs, the
    CPUs shared among the workers, at most ``max_threads`` (default: ``OMP_NUM_THREADS`` when
    set). ``cpus`` and ``max_threads`` are found on this machine unless given.

    >>> plan_cpus(1000, cpus=(16, "affinity"), max_threads=64)
    CpuPlan(cpus=16, source='affinity', workers=16, threads_per_worker=1)
    >>> plan_cpus(4, cpus=(16, "affinity"), max_threads=64)
    CpuPlan(cpus=16, source='affinity', workers=4, threads_per_worker=4)
    >>> plan_cpus(3, workers=1, cpus=(8, "affinity"), max_threads=64)
    CpuPlan(cpus=8, source='affinity', workers=1, threads_per_worker=8)
    >>> plan_cpus(1000, workers=1, cpus=(8, "affinity"), max_threads=64)
    CpuPlan(cpus=8, source='affinity', workers=1, threads_per_worker=1)
    """
    if not isinstance(items, int) or items < 0:
        raise ValueError(f"items: expected an integer >= 0, got {items!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers: expected an integer >= 1, got {workers!r}")
    if max_threads is not None and (not isinstance(max_threads, int) or max_threads < 1):
        raise ValueError(f"max_threads: expected an integer >= 1, got {max_threads!r}")
    count, source = cpus if cpus is not None else available_cpus()
    chosen = min(workers if workers is not None else count, max(1, items))
    threads = max(1, count // chosen) if items < count else 1
    limit = _thread_limit() if max_threads is None else max_threads
    return CpuPlan(count, source, chosen, min(threads, limit))


def _thread_limit() -> int:
    """``OMP_NUM_THREADS``, the usual way to ask numerical code for fewer threads, when set to a
    positive integer; no limit otherwise."""
    try:
        limit = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return 1 << 30
    return limit if limit >= 1 else 1 << 30


_threads = 1


def set_threads(count: int) -> None:
    """Threads this process's own exact transforms and searches may use (1: none extra)."""
    global _threads
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count: expected an integer >= 1, got {count!r}")
    _threads = count


def threads() -> int:
    """Threads set by ``set_threads`` (1 unless a plan gave this process more)."""
    return _threads
