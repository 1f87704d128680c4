"""Time `segcli classweights` against merely reading the same label masks.

python -m benchmarks.bench_classweights --masks 2000 --size 256
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks._common import print_table, python, run_timed, segcli
from benchmarks.bench_score import READ_ONLY
from benchmarks.synth import label_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masks", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        templates = [label_map(rng, (args.size, args.size), num_classes=6) for _ in range(20)]
        for i in range(args.masks):
            sub = root / f"part{i % 10}"
            sub.mkdir(exist_ok=True)
            Image.fromarray(templates[i % len(templates)]).save(sub / f"m{i:05d}.png")
        rows = [
            ("read files only, 1 process", run_timed(python(READ_ONLY) + [tmp, "1"])),
            (f"read files only, {cores} processes", run_timed(python(READ_ONLY) + [tmp, str(cores)])),
            (f"segcli classweights ({cores} workers)", run_timed(segcli("classweights", tmp, "--format", "json"))),
            (
                "segcli classweights (1 worker)",
                run_timed(segcli("classweights", tmp, "--format", "json", "--workers", "1")),
            ),
        ]
    print_table(
        f"{args.masks} label masks {args.size}x{args.size} (PNG), whole processes",
        rows,
        per=args.masks,
        unit="mask",
        reference=f"read files only, {cores} processes",
    )


if __name__ == "__main__":
    main()
