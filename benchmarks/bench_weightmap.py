"""Time `segcli weightmap` against the per-instance snippet users copy, on the same images.

    python -m benchmarks.bench_weightmap --images 20 --snippet-images 2 --size 1024 --cells 300

The snippet runs one full-image distance transform per cell (scipy), sorts, and keeps the two
nearest; it takes tens of seconds an image, so it runs on the first --snippet-images only and the
comparison is per image. Both are timed as whole processes (startup and file I/O included);
segcli also runs with one worker, for a per-core comparison. Also checks the maps agree.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from benchmarks._common import print_table, python, run_timed, segcli
from benchmarks.synth import cell_instances

SNIPPET = """
import sys
from pathlib import Path
import numpy as np, tifffile
from scipy import ndimage
src, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(exist_ok=True)
for path in sorted(src.glob('*.tif')):
    labels = tifffile.imread(path)
    ids = [v for v in np.unique(labels) if v != 0]
    distances = np.stack([ndimage.distance_transform_edt(labels != v) for v in ids])
    distances.sort(axis=0)
    w = 1 + 10 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * 5.0 ** 2)) * (labels == 0)
    tifffile.imwrite(out / path.name, w.astype(np.float32))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--snippet-images", type=int, default=2)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--cells", type=int, default=300)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        for i in range(args.images):
            cells = cell_instances(rng, (args.size, args.size), n_cells=args.cells, radius=args.size / 60)
            tifffile.imwrite(root / "in" / f"img{i:03d}.tif", cells.astype(np.uint16))
        (root / "few").mkdir()
        for path in sorted((root / "in").iterdir())[: args.snippet_images]:
            (root / "few" / path.name).symlink_to(path)
        snippet = run_timed(python(SNIPPET) + [str(root / "few"), str(root / "ref")])
        rows = [
            ("per-instance snippet (scipy, 1 process), scaled", snippet * args.images / args.snippet_images),
            (
                f"segcli weightmap ({cores} workers)",
                run_timed(segcli("weightmap", str(root / "in"), "--out", str(root / "a"))),
            ),
            (
                "segcli weightmap (1 worker)",
                run_timed(segcli("weightmap", str(root / "in"), "--out", str(root / "b"), "--workers", "1")),
            ),
        ]
        worst = max(
            float(np.abs(tifffile.imread(root / "a" / p.name) - tifffile.imread(root / "ref" / p.name)).max())
            for p in (root / "few").iterdir()
        )
    title = (
        f"{args.images} images {args.size}x{args.size}, {args.cells} cells each, whole processes "
        f"(snippet timed on {args.snippet_images} images and scaled)"
    )
    print_table(title, rows, per=args.images, unit="image", reference="per-instance snippet (scipy, 1 process), scaled")
    print(f"\nlargest difference between the maps: {worst:.2e} (w0 = 10)")


if __name__ == "__main__":
    main()
