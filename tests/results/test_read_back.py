"""Runs read back by ``segcli report`` and ``segcli compare`` (``RunResults.from_jsonl``), written
by hand or damaged: one line naming the file, the line and what is wrong, never an internal error
nor a value silently guessed; values near the largest float: the page is written (a plot that
cannot hold them says so), the summary's std does not overflow; runs without a score in common are
a usage error."""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from segcli.cli.main import app

RECORDS = [
    {"name": "c1", "dice": 0.9, "hd95": 2.0, "pred_kind": "mask", "spacing": [1.0, 1.0], "spacing_source": "default"},
    {"name": "c2", "dice": 0.8, "hd95": 3.0, "pred_kind": "mask", "spacing": [1.0, 1.0], "spacing_source": "default"},
    {"name": "c3", "dice": 0.7, "hd95": None, "nonfinite": {"hd95": "inf"}, "pred_kind": "mask",
     "spacing": [1.0, 1.0], "spacing_source": "default"},
]  # fmt: skip
TAIL = {
    "summary": {"dice": {"mean": 0.8, "n_nonfinite": 0}, "hd95": {"mean": None, "n_nonfinite": 1}},
    "failed": ["c4"],
    "failures": [{"name": "c4", "message": "c4.png: cannot read"}],
    "settings": {"metrics": ["dice", "hd95"], "threshold": 0.5},
}


def _write(path, lines) -> str:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def _run(tmp_path, edit=None, name="run.jsonl") -> str:
    """A run as segcli score writes it (records, then the summary line), ``edit``ed in place."""
    lines = json.loads(json.dumps([*RECORDS, TAIL]))
    if edit is not None:
        edit(lines)
    return _write(tmp_path / name, lines)


def _stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line]


# 1. malformed JSONL: one line naming the file, the line / field and what is wrong -----------------


def _set(index, key, value):
    def edit(lines):
        lines[index][key] = value

    return edit


def _after_summary(lines):
    lines.append(dict(lines[0], name="late"))


MALFORMED = {
    "string score": (_set(0, "dice", "n/a"), 'line 1: "dice" is "n/a" where segcli score writes a number or null'),
    "numeric string": (_set(1, "hd95", "0.9"), 'line 2: "hd95" is "0.9" where segcli score writes a number or null'),
    "boolean score": (_set(0, "dice", True), 'line 1: "dice" is true where segcli score writes a number or null'),
    "list score": (_set(0, "dice", [0.9]), 'line 1: "dice" is [0.9] where segcli score writes a number or null'),
    "number said non-finite": (
        _set(2, "hd95", 5),
        'line 3: "hd95" is 5 where segcli score writes null (its nonfinite entry says inf)',
    ),
    "bad nonfinite word": (
        _set(2, "nonfinite", {"hd95": "infinite"}),
        'line 3: "nonfinite.hd95" is "infinite" where segcli score writes "inf", "-inf" or "nan"',
    ),
    "failed as dicts": (
        _set(3, "failed", [{"name": "c4", "message": "x"}]),
        'line 4: "failed[0]" is {"name": "c4", "message": "x"} where segcli score writes a failed pair\'s name '
        "(a string)",
    ),
    "failures without a message": (
        _set(3, "failures", [{"name": "c4"}]),
        'line 4: "failures[0]" is {"name": "c4"} where segcli score writes a {"name", "message"} of a failed pair',
    ),
    "settings a string": (
        _set(3, "settings", "fast"),
        'line 4: "settings" is "fast" where segcli score writes an object (the run\'s settings)',
    ),
    "summary an int": (
        _set(3, "summary", 3),
        'line 4: "summary" is 3 where segcli score writes an object (per score: its statistics)',
    ),
    "name a number": (_set(1, "name", 7), 'line 2: "name" is 7 where segcli score writes a pair\'s name (a string)'),
    "record after the summary": (
        _after_summary,
        "line 5 comes after the summary line (line 4); segcli score writes the summary last (runs joined together?)",
    ),
}


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_run_is_one_line_naming_file_and_line(tmp_path, case, command):
    edit, said = MALFORMED[case]
    bad = _run(tmp_path, edit, name="bad.jsonl")
    if command == "report":
        args = ["report", bad, "-o", str(tmp_path / "page.html")]
    else:
        args = ["compare", _run(tmp_path), bad, "--format", "csv"]
    result = CliRunner().invoke(app, args)
    # as a line that is not JSON, or a run without its summary line: the file cannot be used (exit 1)
    assert (result.exit_code, _stderr_lines(result)) == (1, [f"segcli: error: {bad}: {said}"])
    assert not (tmp_path / "page.html").exists()


def test_the_unedited_run_reads(tmp_path):
    """The run the malformed ones are made from is read as it stands (the refusals are the edits')."""
    run = _run(tmp_path)
    page = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["report", run, "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert "c4.png: cannot read" in page.read_text()
    compared = CliRunner().invoke(app, ["compare", run, run, "--format", "csv"])
    assert compared.exit_code == 0, compared.output


def test_the_line_not_json_is_the_same_kind_of_error(tmp_path):
    """What the refusals above match: an unreadable line of a run is exit 1, one line."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(RECORDS[0]) + "\nnot json\n")
    result = CliRunner().invoke(app, ["report", str(bad), "-o", str(tmp_path / "page.html")])
    assert (result.exit_code, _stderr_lines(result)) == (
        1,
        [f"segcli: error: {bad}: line 2 is not JSON (expected segcli score's jsonl)"],
    )


def test_malformed_thresholds_run_is_one_line(tmp_path):
    records = [
        {"name": "c1", "threshold": 0.5, "score": "dice", "value": 0.9},
        {"name": "c1", "threshold": "0.5", "score": "dice", "value": 0.9},
    ]
    tail = {"summary": {"dice": {"0.5": {"mean": 0.9}}}, "best": {}, "failed": [], "settings": {}}
    bad = _write(tmp_path / "t.jsonl", [*records, tail])
    result = CliRunner().invoke(app, ["report", bad, "-o", str(tmp_path / "page.html")])
    assert (result.exit_code, _stderr_lines(result)) == (
        1,
        [f'segcli: error: {bad}: line 2: "threshold" is "0.5" where segcli score writes a finite number'],
    )
    tail["summary"] = {"dice": [0.9]}
    bad = _write(tmp_path / "t.jsonl", [records[0], tail])
    result = CliRunner().invoke(app, ["report", bad, "-o", str(tmp_path / "page.html")])
    assert (result.exit_code, _stderr_lines(result)) == (
        1,
        [
            f'segcli: error: {bad}: line 2: "summary.dice" is [0.9] where segcli score writes an object '
            "(per threshold: its statistics)"
        ],
    )


def test_compare_json_with_a_string_score_is_one_line(tmp_path):
    document = {"images": [dict(RECORDS[0], dice="n/a")], **TAIL}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = CliRunner().invoke(app, ["compare", _run(tmp_path), str(bad), "--format", "csv"])
    assert (result.exit_code, _stderr_lines(result)) == (
        1,
        [f'segcli: error: {bad}: images[0]: "dice" is "n/a" where segcli score writes a number or null'],
    )


# 2. values near the largest float: the page is written, without matplotlib's warnings -----------


def _huge(lines):
    lines[0]["hd95"], lines[1]["hd95"] = 1e308, -1e308


def test_report_of_huge_values_is_written_and_quiet(tmp_path):
    """Real stderr (a process of its own): matplotlib's RuntimeWarnings would be printed there."""
    run, page = _run(tmp_path, _huge), tmp_path / "page.html"
    result = subprocess.run(
        [sys.executable, "-m", "segcli", "report", run, "-o", str(page)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"segcli: report written to {page} ({page.stat().st_size / 1e6:.2f} MB)"]
    text = page.read_text()
    assert (
        "<p class='note'>hd95: not plotted, 2 value(s) beyond ±1e+300 (largest magnitude 1e+308); the summary "
        "and the table of every pair show them</p>" in text
    )
    assert "alt='region scores'" in text  # the other family's plot is drawn


def test_per_class_and_threshold_plots_of_huge_values_are_notes(tmp_path):
    records = [
        {"name": f"c{i}", "dice": 0.5 + i / 10, "dice_liver": 0.5, "hd95": 1.0, "hd95_liver": v, "hd95_spleen": 2.0}
        for i, v in enumerate([1.0, 1e308, 2.0])
    ]
    tail = {"summary": {c: {} for c in ("dice", "dice_liver", "hd95", "hd95_liver", "hd95_spleen")}, "failed": []}
    text = _quiet_report(tmp_path, "classes", [*records, tail])
    assert "<p class='note'>hd95_liver: not plotted, 1 value(s) beyond ±1e+300" in text
    assert "alt='hd95 per class'" in text

    long = [
        {"name": f"c{i}", "threshold": t, "score": "hd95", "value": 1e308 if (i, t) == (0, 0.5) else 1.0}
        for i in range(3)
        for t in (0.3, 0.5)
    ]
    tail = {"summary": {"hd95": {"0.3": {}, "0.5": {}}}, "best": {}, "failed": []}
    text = _quiet_report(tmp_path, "thresholds", [*long, tail])
    assert "<p class='note'>hd95 (mean per threshold): not plotted, 1 value(s) beyond ±1e+300" in text


def _quiet_report(tmp_path, name: str, lines: list[dict]) -> str:
    """The page of a run written from ``lines``, made without a single warning."""
    page = tmp_path / f"{name}.html"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = _write(tmp_path / f"{name}.jsonl", lines)
        result = CliRunner().invoke(app, ["report", run, "-o", str(page), "--report-sort", "hd95"])
    assert result.exit_code == 0, result.output
    assert [str(w.message) for w in caught] == []
    return page.read_text()


def test_a_plot_that_cannot_be_drawn_is_a_note():
    from segcli.results.plots import plot_html

    def broken():
        raise ValueError("arange: cannot compute length")

    assert plot_html("surface scores", broken) == (
        "<p class='note'>surface scores: plot not drawn (ValueError: arange: cannot compute length)</p>"
    )


# 3. the summary's std of values near the largest float ----------------------------------------


def test_std_of_huge_finite_values_does_not_overflow():
    from segcli.results.summary import summarize

    # by hand: mean 0, every deviation 1e308 -> std 1e308 (np.std squares them: inf)
    rows = [{"d": 1e308}, {"d": -1e308}]
    assert summarize(["d"], rows)["d"]["std"] == 1e308
    values = [1.7e308, 1.0, 2.0, 3.0, -1.2e308]
    reference = statistics.pstdev([v / 1e308 for v in values]) * 1e308  # exact arithmetic, scaled by hand
    assert summarize(["d"], [{"d": v} for v in values])["d"]["std"] == pytest.approx(reference, rel=1e-12)
    # non-finite values keep numpy's answer (inf - inf: nan)
    assert math.isnan(summarize(["d"], [{"d": 1e308}, {"d": math.inf}])["d"]["std"])


def test_std_is_numpys_bit_for_bit_where_finite(rng):
    from segcli.results.summary import summarize

    for scale in (1e-300, 1e-3, 1.0, 1e3, 1e150):
        values = rng.standard_normal(101) * scale
        assert summarize(["d"], [{"d": float(v)} for v in values])["d"]["std"] == float(np.std(values))


def test_empty_distance_1e308_summary_std_is_finite(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for i in range(4):
        gt = np.zeros((20, 20), np.uint8)
        gt[5:12, 5:12] = 255
        pred = np.zeros_like(gt) if i == 0 else np.roll(gt, i, axis=0)  # case 0: a missed structure
        Image.fromarray(gt).save(tmp_path / "gt" / f"m{i}.png")
        Image.fromarray(pred).save(tmp_path / "pred" / f"m{i}.png")
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "hd95",
                                      "--empty-distance", "1e308", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    values = [record["hd95"] for record in lines[:-1]]
    assert 1e308 in values
    reference = statistics.pstdev([v / 1e308 for v in values]) * 1e308
    assert lines[-1]["summary"]["hd95"]["std"] == pytest.approx(reference, rel=1e-12)


# 4. runs without a score in common: a usage error ---------------------------------------------


def _runs_without_a_common_score(tmp_path):
    def only(column):
        def edit(lines):
            for line in lines[:-1]:
                line.pop("dice" if column == "hd95" else "hd95")
                line.pop("nonfinite", None)
            lines[-1]["summary"] = {column: {}}

        return edit

    return _run(tmp_path, only("dice"), name="d.jsonl"), _run(tmp_path, only("hd95"), name="h.jsonl")


@pytest.mark.parametrize("metrics", [None, "dice"])
def test_runs_without_a_common_score_are_a_usage_error(tmp_path, metrics):
    d, h = _runs_without_a_common_score(tmp_path)
    args = [sys.executable, "-m", "segcli", "compare", d, h] + (["--metrics", metrics] if metrics else [])
    result = subprocess.run(args, capture_output=True, text=True)
    said = f"{d} and {h} have no score in common (dice / hd95)"
    if metrics:
        said = f"Invalid value for --metrics: score(s) not in both runs: dice; {said}"
    assert (result.returncode, result.stderr.splitlines()) == (2, [f"segcli: error: {said}"])
