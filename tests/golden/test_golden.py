"""Golden test: every case of ``cases.py`` run against the segcli under test gives, byte for byte
(after ``cases.normalise``), the transcript recorded in ``expected/<case>.txt``.

The segcli under test is the checkout holding this file (``tests/golden/../..``), or the one
that ``$SEGCLI_GOLDEN_ROOT`` names; each run is ``python -m segcli`` in a subprocess with
``PYTHONPATH`` set to that checkout, whatever is installed. A failure shows a unified diff of the
transcript (expected, then what the code printed). When an output is meant to change, re-record
with ``python tests/golden/record.py CASE`` (see its docstring) and review the diff.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from . import cases
from .record import tree_under_test

ROOT = tree_under_test()


@pytest.fixture(scope="session")
def golden_work(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("segcli-golden")
    cases.make_inputs(work, ROOT)
    imported = Path(cases.check_import_root(work, ROOT)).resolve()
    if not imported.is_relative_to(ROOT):
        pytest.fail(f"python -m segcli imports {imported}, not the tree under test {ROOT}")
    return work


@pytest.mark.parametrize("case", cases.CASES, ids=[c.name for c in cases.CASES])
def test_golden(case: cases.Case, golden_work: Path) -> None:
    missing = cases.missing_modules(case)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    path = cases.expected_path(case)
    if not path.exists():
        pytest.fail(f"no golden file {path.name}: record it with python tests/golden/record.py {case.name}")
    expected = cases.rename_settings(path.read_text(encoding="utf-8"))
    actual = cases.run_case(case, work=golden_work, root=ROOT)
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"expected/{path.name}",
            tofile=f"{case.name} (segcli in {ROOT})",
        )
        detail = _within_lines(expected, actual)
        pytest.fail("output differs from the golden file:\n" + "".join(diff) + detail, pytrace=False)


def _within_lines(expected: str, actual: str, limit: int = 20) -> str:
    """Which fields of each changed line changed (wide CSV rows are hard to read in a unified
    diff): fields split at commas and tabs, numbered from 1."""
    a, b = expected.splitlines(), actual.splitlines()
    shown = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "replace":
            continue
        for k in range(min(i2 - i1, j2 - j1)):
            old, new = re.split(r"[,\t]", a[i1 + k]), re.split(r"[,\t]", b[j1 + k])
            if len(old) < 3 and len(new) < 3:  # not a row of fields: the diff says it all
                continue
            if len(old) != len(new):
                shown.append(f"  expected line {i1 + k + 1}: {len(old)} fields, now {len(new)}")
                continue
            pairs = enumerate(zip(old, new, strict=True))
            changed = [f"field {n + 1}: {x.strip()!r} -> {y.strip()!r}" for n, (x, y) in pairs if x != y]
            more = f" (and {len(changed) - 4} more)" if len(changed) > 4 else ""
            shown.append(f"  expected line {i1 + k + 1}: " + "; ".join(changed[:4]) + more)
    if not shown:
        return ""
    more = f"\n  ... and {len(shown) - limit} more line(s)" if len(shown) > limit else ""
    return "\nchanged fields:\n" + "\n".join(shown[:limit]) + more + "\n"


def test_every_golden_file_has_its_case() -> None:
    names = [c.name for c in cases.CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    stale = sorted(p.stem for p in cases.EXPECTED.glob("*.txt") if p.stem not in set(names))
    assert not stale, f"golden files without a case (remove them, or run record.py): {stale}"


def test_renamed_settings_hook(monkeypatch) -> None:
    """A key named in RENAMED_SETTINGS is renamed in settings records only, not in scores."""
    monkeypatch.setattr(cases, "RENAMED_SETTINGS", {"unet_w0": "w0", "threshold": "cutoff"})
    text = (
        '{"name": "a", "threshold": 0.5, "unet_w0": 1}\n'
        '{"summary": {}, "settings": {"options": {"unet_w0": 10.0, "note": "\\"unet_w0\\": x"}, "threshold": 0.5}}\n'
        "<td>setting: options.unet_w0</td><td>10.0</td><td>setting: threshold</td>\n"
        "segcli: warning: the two runs used different settings: options.unet_w0, threshold\n"
    )
    assert cases.rename_settings(text) == (
        '{"name": "a", "threshold": 0.5, "unet_w0": 1}\n'
        '{"summary": {}, "settings": {"options": {"w0": 10.0, "note": "\\"unet_w0\\": x"}, "cutoff": 0.5}}\n'
        "<td>setting: options.w0</td><td>10.0</td><td>setting: cutoff</td>\n"
        "segcli: warning: the two runs used different settings: options.w0, cutoff\n"
    )


def test_normalise_machine_fields(tmp_path) -> None:
    work, root = tmp_path / "work", tmp_path / "root"
    text = (
        f'{work}/out/a.csv {root}/segcli\n"max_memory": 20220946022.4, "cpu_plan": {{"cpus": 2, "workers": 1}}\n'
        "<td>setting: max_memory</td><td>123.4</td><td>date (UTC)</td><td>2026-12-07T22:45:01+00:00</td>\n"
    )
    assert cases.normalise(text, work=work, root=root) == (
        '<WORK>/out/a.csv <ROOT>/segcli\n"max_memory": "<MAX_MEMORY>", "cpu_plan": "<CPU_PLAN>"\n'
        "<td>setting: max_memory</td><td>&lt;MACHINE&gt;</td><td>date (UTC)</td><td><DATE></td>\n"
    )
