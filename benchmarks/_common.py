"""Helpers for the benchmark scripts: timing whole processes and printing ratio tables."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compile_segcli() -> None:
    """Write segcli's bytecode, as installing a package does: with PYTHONDONTWRITEBYTECODE set,
    every timed run would otherwise compile each module changed since its last .pyc (47 ms of a
    run's start-up on this project's machine, which no installed copy pays)."""
    import compileall

    compileall.compile_dir(ROOT / "segcli", quiet=1)


def run_timed(args: list[str], *, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs of a whole process (startup and imports included), with
    segcli's bytecode written first."""
    compile_segcli()
    best = float("inf")
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"benchmark command failed ({done.returncode}): {' '.join(args)}\n{done.stderr}")
        best = min(best, elapsed)
    return best


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def segcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "segcli", *args]


def print_table(title: str, rows: list[tuple[str, float]], *, per: int, unit: str, reference: str) -> None:
    """Print each timing, its cost per item, and its ratio to the row named ``reference``."""
    base = dict(rows)[reference]
    print(f"\n{title}")
    print(f"reference: {reference}")
    print(f"{'what':62s} {'total s':>9s} {'ms/' + unit:>10s} {'time/ref':>9s} {'ref/time':>9s}")
    for name, seconds in rows:
        print(f"{name:62s} {seconds:9.2f} {1000 * seconds / per:10.2f} {seconds / base:9.3g} {base / seconds:9.3g}")
