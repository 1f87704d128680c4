"""Where outputs go, as an adversary names them: file names that are not UTF-8, ``-`` for
stdout, an empty path. Whole processes, since the locale's stdout is part of what is tested."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# A Latin-1 file name, as old archives and Windows shares hand them over: not valid UTF-8.
ODD_NAME = os.fsdecode(b"caf\xe9")
ODD_BYTES = b"caf\xe9"


def _segcli(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segcli", *map(str, args)],
        capture_output=True,
        cwd=cwd,
        env=os.environ | {"COLUMNS": "120"} | (env or {}),
        timeout=120,
    )


@pytest.fixture
def odd_pairs(tmp_path) -> Path:
    """One pair whose name is not UTF-8 and one plain pair."""
    gt = np.zeros((20, 24), np.uint8)
    gt[4:12, 5:15] = 255
    gt[14:18, 2:6] = 255
    for name in (ODD_NAME, "plain"):
        for folder, array in (("gt", gt), ("pred", np.roll(gt, 1, axis=0))):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(array).save(tmp_path / folder / f"{name}.png")
    return tmp_path


def _one_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "backslashreplace").strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_a_name_that_is_not_utf8_keeps_its_bytes_in_an_output_file(odd_pairs, fmt):
    done = _segcli("score", "pred", "gt", "--metrics", "dice", "--format", fmt, "-o", f"out.{fmt}", cwd=odd_pairs)
    assert done.returncode == 0, done.stderr
    written = (odd_pairs / f"out.{fmt}").read_bytes()
    if fmt == "jsonl":  # JSON escapes it; reading the file back gives the file's own name
        names = [json.loads(line).get("name") for line in written.decode("ascii").splitlines()]
        assert ODD_NAME in names
        assert os.fsencode(names[names.index(ODD_NAME)]) == ODD_BYTES
    else:
        assert ODD_BYTES + (b"," if fmt == "csv" else b"\t") in written
        assert b"pred/" + ODD_BYTES + b".png" in written


def test_a_name_that_is_not_utf8_on_a_strict_stdout(odd_pairs):
    # a UTF-8 locale whose stdout refuses what is not UTF-8 (en_US.UTF-8 does): no crash at the end
    done = _segcli("score", "pred", "gt", "--metrics", "dice", cwd=odd_pairs, env={"PYTHONIOENCODING": "utf-8:strict"})
    assert done.returncode == 0, done.stderr
    rows = done.stdout.split(b"\n")
    assert any(row.startswith(ODD_BYTES + b",") for row in rows)
    assert any(row.startswith(b"plain,") for row in rows)


def test_a_name_that_is_not_utf8_in_the_objects_csv_report_and_compare(odd_pairs):
    run = _segcli(
        "score", "pred", "gt", "--metrics", "dice", "-o", "run.jsonl", "--objects", "components",
        "--objects-out", "objects.csv", cwd=odd_pairs,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    objects = (odd_pairs / "objects.csv").read_bytes()
    assert objects.count(b"\n" + ODD_BYTES + b",") == 4  # two GT and two predicted objects
    report = _segcli("report", "run.jsonl", "-o", f"{ODD_NAME}.html", cwd=odd_pairs)
    assert report.returncode == 0, report.stderr
    page = (odd_pairs / f"{ODD_NAME}.html").read_bytes()
    assert page.startswith(b"<!DOCTYPE html>")
    assert "<h3>caf\\xe9</h3>" in page.decode("utf-8")  # the page is valid UTF-8; the byte shown as \xe9
    compared = _segcli("compare", "run.jsonl", "run.jsonl", "--format", "csv", "-o", "compare.csv", cwd=odd_pairs)
    assert compared.returncode == 0, compared.stderr
    rows = list(csv.DictReader(io.StringIO((odd_pairs / "compare.csv").read_text())))
    assert rows[0]["score"] == "dice"
    assert rows[0]["n_cases"] == "2"


@pytest.mark.parametrize(
    "command",
    [
        ["score", "pred", "gt", "--metrics", "dice", "--format", "csv", "-o", "-"],
        ["compare", "run.csv", "run.csv", "--format", "csv", "-o", "-"],
        ["classweights", "gt", "--output", "-"],
    ],
    ids=["score", "compare", "classweights"],
)
def test_dash_is_stdout(odd_pairs, command):
    first = _segcli("score", "pred", "gt", "--metrics", "dice", "--format", "csv", "-o", "run.csv", cwd=odd_pairs)
    assert first.returncode == 0, first.stderr
    done = _segcli(*command, cwd=odd_pairs)
    assert done.returncode == 0, done.stderr
    assert not (odd_pairs / "-").exists()
    header = done.stdout.split(b"\n")[0]
    assert header.startswith((b"name,dice", b"score,", b"class,count"))


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["score", "pred", "gt", "-o", ""], "'--output' / '-o'"),
        (["score", "pred", "gt", "--report", ""], "'--report'"),
        (["score", "pred", "gt", "--report", "-"], "'--report'"),
        (["weightmap", "gt", "--out", ""], "'--out'"),
        (["weightmap", "gt", "--out", "-"], "'--out'"),
        (["classweights", "gt", "--output", ""], "'--output'"),
        (["report", "run.jsonl", "-o", ""], "'--output' / '-o'"),
        (["report", "run.jsonl", "-o", "-"], "'--output' / '-o'"),
        (["report", "run.jsonl", "-o", "s3://bucket/r.html"], "'--output' / '-o'"),
        (["compare", "run.jsonl", "run.jsonl", "-o", "s3://bucket/c.csv"], "'--output' / '-o'"),
        (["compare", "run.jsonl", "run.jsonl", "-o", ""], "'--output' / '-o'"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(odd_pairs, command, flag):
    # an empty path would be the current directory, '-' a file named like stdout, a URL unwritable
    before = sorted(p.name for p in odd_pairs.iterdir())
    done = _segcli(*command, cwd=odd_pairs)
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert flag in line
    assert sorted(p.name for p in odd_pairs.iterdir()) == before


def test_dot_slash_dash_is_a_file_named_dash(odd_pairs):
    done = _segcli("score", "pred", "gt", "--metrics", "dice", "--format", "csv", "-o", "./-", cwd=odd_pairs)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    assert (odd_pairs / "-").read_bytes().startswith(b"name,dice")


@pytest.mark.parametrize(
    ("command", "victim"),
    [
        (["score", "pred", "gt", "--labels", "ds.json", "-o", "ds.json"], "ds.json"),
        (["score", "pred", "gt", "--num-classes", "2", "--class-weights", "cw.json", "-o", "cw.json"], "cw.json"),
        (["score", "pred", "gt", "--report", "img/plain.png", "--images", "img"], "img/plain.png"),
        (["classweights", "gt", "--output", "gt/plain.png"], "gt/plain.png"),
    ],
    ids=["labels", "class-weights", "images", "classweights"],
)
def test_inputs_beyond_the_pairs_are_never_written_over(odd_pairs, command, victim):
    # the dataset.json, a class-weights JSON, an image under --images, a mask counted by
    # classweights: each refused as an output even with --overwrite, left as it was
    (odd_pairs / "ds.json").write_text('{"labels": {"background": 0, "cell": 1}, "file_ending": ".png"}')
    (odd_pairs / "cw.json").write_text('{"classes": [0, 1], "weights": {"inverse": [1.0, 2.0]}}')
    (odd_pairs / "img").mkdir()
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(odd_pairs / "img" / "plain.png")
    before = (odd_pairs / victim).read_bytes()
    done = _segcli(*command, "--overwrite", cwd=odd_pairs)
    assert done.returncode == 2, done.stderr
    assert "outputs never replace inputs" in _one_line(done.stderr)
    assert (odd_pairs / victim).read_bytes() == before


@pytest.mark.parametrize(
    "command",
    [
        ["score", "pred", "gt", "-o", "q.csv", "--report", ".q.csv.segcli-lock"],  # would lock q.csv out for good
        ["score", "pred", "gt", "-o", "z.csv", "--report", "z.csv.partial"],  # would be taken for z.csv's journal
        ["score", "pred", "gt", "-o", "r.partial"],
        ["classweights", "gt", "--output", "w.segcli-lock"],
    ],
)
def test_an_output_named_like_segcli_own_files_is_refused(odd_pairs, command):
    before = sorted(p.name for p in odd_pairs.iterdir())
    done = _segcli(*command, cwd=odd_pairs)
    assert done.returncode == 2, done.stderr
    assert "segcli's own lock and journal files" in _one_line(done.stderr)
    assert sorted(p.name for p in odd_pairs.iterdir()) == before


def test_an_output_file_ending_in_a_slash_is_refused(odd_pairs):
    """``-o x.csv/`` names a directory: refused before any work, never written as a file x.csv
    (Path drops the slash); weightmap's --out is a directory and keeps accepting one."""
    for args in (
        ["score", "pred", "gt", "--metrics", "dice", "-o", "x.csv/"],
        ["score", "pred", "gt", "--metrics", "dice", "-o", "r.jsonl", "--report", "page/"],
        ["classweights", "gt", "--output", "w.json/"],
    ):
        done = _segcli(*args, cwd=odd_pairs)
        assert done.returncode == 2, (args, done.stderr)
        assert b"ends with /, which names a directory; this option writes a file" in done.stderr
    assert not (odd_pairs / "x.csv").exists() and not (odd_pairs / "r.jsonl").exists()
    assert _segcli("weightmap", "gt", "--out", "maps/", cwd=odd_pairs).returncode == 0
