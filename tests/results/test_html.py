"""The HTML report: its numbers, its worst cases, self-containment, and a real browser render."""

from __future__ import annotations

import csv
import html
import io
import math
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from segcli.cli.main import app


class _Page(HTMLParser):
    """Tables (by the id of the h2 before them), headings, the title, every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.headings: list[str] = []
        self.links: list[str] = []
        self.title = ""
        self.case_names: list[str] = []
        self._section = ""
        self._text = None
        self._tag = None
        self._row = None
        self._in_case = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag == "h2":
            self._section = attrs.get("id", "")
        if tag == "div" and attrs.get("class") == "case":
            self._in_case = True
        if tag in ("h1", "h2", "h3", "title", "td", "th"):
            self._tag, self._text = tag, ""
        if tag == "tr":
            self._row = []

    def handle_data(self, data):
        if self._text is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == self._tag and self._text is not None:
            text = self._text.strip()
            if tag in ("h1", "h2"):
                self.headings.append(text)
            elif tag == "h3" and self._in_case:
                self.case_names.append(text)
                self._in_case = False
            elif tag == "title":
                self.title = text
            elif tag in ("td", "th") and self._row is not None:
                self._row.append(text)
            self._text = self._tag = None
        if tag == "tr" and self._row is not None:
            self.tables.setdefault(self._section, []).append(self._row)
            self._row = None


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """12 pairs with known errors (one empty prediction: hd inf), one unreadable prediction."""
    root = tmp_path_factory.mktemp("report")
    (root / "pred").mkdir()
    (root / "gt").mkdir()
    (root / "img").mkdir()
    rng = np.random.default_rng(3)
    for i in range(12):
        gt = np.zeros((40, 48), np.uint8)
        gt[8:30, 10:36] = 255
        pred = np.roll(gt, i % 5, axis=1)
        if i == 7:
            pred[:] = 0
        Image.fromarray(gt).save(root / "gt" / f"c{i:02d}.png")
        Image.fromarray(pred).save(root / "pred" / f"c{i:02d}.png")
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(root / "img" / f"c{i:02d}.png")
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(root / "gt" / "z_bad.png")
    (root / "pred" / "z_bad.png").write_bytes(b"not a png")
    return root


def _score(run, tmp_path, *extra):
    out, page = tmp_path / "run.jsonl", tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["score", str(run / "pred"), str(run / "gt"), "-o", str(out), "--report", str(page), "--workers", "1", *extra],
    )
    return result, out, page


def test_summary_table_equals_the_numbers(run, tmp_path):
    from scipy import stats

    result, out, page = _score(run, tmp_path, "--metrics", "dice,hd95,bce", "--format", "jsonl")
    assert result.exit_code == 1  # the unreadable pair
    parsed = _parse(page.read_text())
    table = {row[0]: row for row in parsed.tables["summary"][1:]}
    header = parsed.tables["summary"][0]
    import json

    records = [json.loads(line) for line in out.read_text().splitlines()[:-1]]
    dice = np.array([r["dice"] for r in records])
    expect = {
        "mean": dice.mean(),
        "std": dice.std(ddof=0),
        "median": np.median(dice),
        "min": dice.min(),
        "max": dice.max(),
    }
    for key, value in expect.items():
        assert float(table["dice"][header.index(key)]) == pytest.approx(value, rel=1e-5)
    ci = stats.bootstrap((dice,), np.mean, n_resamples=9999, method="BCa", rng=np.random.default_rng(0))
    assert float(table["dice"][header.index("ci95_low")]) == pytest.approx(ci.confidence_interval.low, rel=1e-5)
    assert float(table["dice"][header.index("ci95_high")]) == pytest.approx(ci.confidence_interval.high, rel=1e-5)
    assert table["hd95"][header.index("n_nonfinite")] == "1"
    assert table["hd95"][header.index("mean")] == "inf" and table["hd95"][header.index("ci95_low")] == "nan"


def test_worst_cases_are_the_lowest_dice_and_highest_distance(run, tmp_path):
    result, out, page = _score(run, tmp_path, "--metrics", "dice,hd95", "--format", "csv")
    rows = [r for r in csv.DictReader(io.StringIO(out.read_text())) if not r["name"].startswith("summary:")]
    by_dice = sorted(rows, key=lambda r: (float(r["dice"]), r["name"]))
    parsed = _parse(page.read_text())
    assert parsed.case_names == [r["name"] for r in by_dice[:10]]
    again = _score(run, tmp_path, "--metrics", "dice,hd95", "--report-sort", "hd95", "--overwrite")[2]
    by_hd = sorted(rows, key=lambda r: (-float(r["hd95"]), r["name"]))
    names = _parse(again.read_text()).case_names
    assert names[0] == "c07"  # inf: the worst distance
    assert names == [r["name"] for r in by_hd[:10]]


def test_page_is_self_contained_and_lists_failures(run, tmp_path):
    result, out, page = _score(run, tmp_path, "--metrics", "dice,hd95", "--images", str(run / "img"))
    text = page.read_text()
    parsed = _parse(text)
    assert parsed.links and all(link.startswith(("data:image/png;base64,", "#")) for link in parsed.links)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text.replace("http://www.w3.org", ""))
    assert sum(link.startswith("data:image/png") for link in parsed.links) >= 10 + 2  # thumbnails and plots
    assert re.search(r"<li>z_bad: [^<]*z_bad.png: cannot read", text)
    assert parsed.title == "segcli report: 12 pairs"
    for heading in ("Provenance", "Summary", "Distributions", "Worst 10 cases by dice (ascending)", "Failed pairs (1)"):
        assert heading in parsed.headings


def test_report_command_rebuilds_the_page_from_jsonl(run, tmp_path):
    result, out, page = _score(run, tmp_path, "--metrics", "dice,hd95,assd", "--format", "jsonl")
    rebuilt = tmp_path / "again.html"
    again = CliRunner().invoke(app, ["report", str(out), "-o", str(rebuilt)])
    assert again.exit_code == 0, again.output
    first, second = _parse(page.read_text()), _parse(rebuilt.read_text())
    assert first.tables["summary"] == second.tables["summary"]
    assert first.case_names == second.case_names
    assert "z_bad.png: cannot read" in rebuilt.read_text()
    assert second.links.count("") == 0
    refused = CliRunner().invoke(app, ["report", str(out), "-o", str(rebuilt)])
    assert refused.exit_code == 2 and "exists" in refused.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "a", "dice": 1}\n')
    missing_tail = CliRunner().invoke(app, ["report", str(bad), "-o", str(tmp_path / "x.html")])
    assert missing_tail.exit_code == 1 and "no summary line" in missing_tail.stderr


def test_multiclass_report_has_a_per_class_table(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for i in range(3):
        gt = np.zeros((30, 30), np.uint8)
        gt[2:12, 2:12] = 1
        gt[15:28, 15:28] = 2
        pred = np.roll(gt, i, axis=0)
        Image.fromarray(gt).save(tmp_path / "gt" / f"m{i}.png")
        Image.fromarray(pred).save(tmp_path / "pred" / f"m{i}.png")
    page = tmp_path / "r.html"
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--num-classes",
            "3",
            "--class-names",
            "bg,liver,kidney",
            "--metrics",
            "dice,hd95",
            "--report",
            str(page),
        ],
    )
    assert result.exit_code == 0, result.output
    table = _parse(page.read_text()).tables["classes"]
    assert table[0] == ["class", "dice", "hd95"] and [row[0] for row in table[1:]] == ["liver", "kidney"]


def test_a_thousand_pairs_stay_under_5_mb():
    from segcli.results.html import render_report
    from segcli.results.read_back import RunResults

    rng = np.random.default_rng(0)
    columns = ["dice", "iou", "hd95", "assd", "nsd", "bce"]
    results = RunResults(columns=columns, settings={"metrics": columns})
    for i in range(1000):
        results.names.append(f"case_{i:04d}")
        results.rows.append({c: float(rng.random()) for c in columns} | {"hd95": math.inf if i == 5 else 1.0})
        results.metas.append({})
    page = render_report(results, provenance={"command": "test"})
    assert len(page.encode()) < 5e6
    assert "no thumbnail" in page  # records without files still get a page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true", reason="no chromium here (CI installs it)")
def test_page_renders_in_a_headless_browser(run, tmp_path):
    assert CHROMIUM, "CI must install Debian's chromium package"
    result, out, page = _score(run, tmp_path, "--metrics", "dice,hd95,assd,bce")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    shot = tmp_path / "shot.png"
    # Chromium's singleton socket lives in TMPDIR and a socket's path is limited to 107 bytes: a short one
    short = tempfile.mkdtemp(dir="/tmp" if os.path.isdir("/tmp") else None)
    env = {**os.environ, "TMPDIR": short}
    try:
        done = subprocess.run(
            [CHROMIUM, *flags, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        dom = subprocess.run(
            [CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, env=env
        )
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert shot.exists(), done.stderr[-2000:]
    picture = np.asarray(Image.open(shot).convert("RGB"))
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 50  # not blank
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    parsed = _parse(dom.stdout)
    assert parsed.title == "segcli report: 12 pairs"
    assert {"Provenance", "Summary", "Distributions"} <= set(parsed.headings)


def test_an_images_file_that_cannot_be_used_is_said_on_the_page_and_stderr(run, tmp_path):
    """--images: an unreadable image and one of another shape fall back to the GT mask as the
    background, and both the page (under the case) and stderr say which file and why."""
    images = tmp_path / "img"
    images.mkdir()
    (images / "c07.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(images / "c00.png")
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(images / "c01.png")  # usable: nothing said
    result, out, page = _score(run, tmp_path, "--metrics", "dice", "--images", str(images))
    text = html.unescape(page.read_text())
    bad = f"{images / 'c07.png'}: not used as the background, cannot read (UnidentifiedImageError"
    shape = f"{images / 'c00.png'}: not used as the background, its shape (5, 7) differs from the masks' (40, 48)"
    for said in (bad, shape):
        assert said in text and said in result.stderr
    assert "c01.png" not in result.stderr and "c01.png: not used" not in text
