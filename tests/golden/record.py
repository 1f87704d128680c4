"""Rewrite the golden files (``expected/<case>.txt``) from the segcli under test.

Run this ONLY ON PURPOSE, when an output is meant to change (a new score, a fixed message, a
new case): the golden test exists to prove that a refactor changes no byte of any output, and
re-recording makes whatever the code now prints the new truth. Review ``git diff tests/golden``
before committing what it wrote.

    python tests/golden/record.py                 # every case, from this repository's segcli
    python tests/golden/record.py score_ci metrics  # only these cases
    python tests/golden/record.py --root /path/to/other/checkout   # record from another tree

The tree whose segcli is run is ``--root``, else ``$SEGCLI_GOLDEN_ROOT``, else the repository
holding this file (as in ``test_golden.py``). Each case is run twice, in two work directories,
and nothing is written unless both runs give the same transcript (a golden file must be
deterministic); ``--once`` skips the second run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.golden import cases
else:
    from . import cases


def tree_under_test(root: str | None = None) -> Path:
    """The checkout whose segcli the golden cases run."""
    chosen = root or os.environ.get("SEGCLI_GOLDEN_ROOT") or Path(__file__).resolve().parents[2]
    return Path(chosen).resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="cases to record (default: all; stale files are then removed)")
    parser.add_argument("--root", help="checkout whose segcli is run [default: $SEGCLI_GOLDEN_ROOT, else this repo]")
    parser.add_argument("--once", action="store_true", help="run each case once (no determinism check)")
    args = parser.parse_args(argv)
    root = tree_under_test(args.root)
    known = {c.name: c for c in cases.CASES}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    chosen = [known[n] for n in args.names] if args.names else list(cases.CASES)
    cases.EXPECTED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="segcli-golden-") as tmp:
        works = [Path(tmp) / "a", Path(tmp) / "b-second-run"][: 1 if args.once else 2]
        for work in works:
            work.mkdir()
            cases.make_inputs(work, root)
        print(f"recording from {cases.check_import_root(works[0], root)}", file=sys.stderr)
        bad = []
        for case in chosen:
            missing = cases.missing_modules(case)
            if missing:
                print(f"  skipped {case.name}: needs {', '.join(missing)} (its golden file is kept)", file=sys.stderr)
                continue
            start = time.perf_counter()
            texts = [cases.run_case(case, work=work, root=root) for work in works]
            if any(t != texts[0] for t in texts[1:]):
                bad.append(case.name)
                print(f"  NOT DETERMINISTIC, not written: {case.name}", file=sys.stderr)
                continue
            path = cases.expected_path(case)
            old = path.read_text(encoding="utf-8") if path.exists() else None
            path.write_text(texts[0], encoding="utf-8")
            state = "new" if old is None else ("unchanged" if old == texts[0] else "CHANGED")
            print(f"  {time.perf_counter() - start:5.2f} s  {state:9}  {case.name}", file=sys.stderr)
    if not args.names:
        for stale in sorted(set(cases.EXPECTED.glob("*.txt")) - {cases.expected_path(c) for c in cases.CASES}):
            stale.unlink()
            print(f"  removed stale {stale.name}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
