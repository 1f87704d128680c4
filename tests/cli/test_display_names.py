"""File names shown to a person: an escape sequence, a newline or rich markup in a name must not
drive the terminal, split a message or vanish from a table; data files keep the names as they are.
Whole processes for the CLI (stderr and the terminal table are what is tested)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segcli.display import printable, printable_lines

# Clears the screen and retitles the terminal; \x9b is the one-byte (C1) form of ESC [.
HOSTILE = "a\x1b]0;owned\x07\x1b[2J\x9bb"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (HOSTILE, "a\\x1b]0;owned\\x07\\x1b[2J\\x9bb"),
        ("two\nlines\r", "two\\nlines\\r"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("abc\u202etxt.png", "abc\\u202etxt.png"),  # right-to-left override: 'gnp.txt' on screen
        ("tab\tescaped", "tab\\tescaped"),  # a raw tab pushed a table's columns apart
        ("café 日本 [bold]x\\y", "café 日本 [bold]x\\y"),
    ],
)
def test_printable_escapes_what_could_drive_a_terminal_and_nothing_else(text, shown):
    assert printable(text) == shown


def test_an_existing_output_that_is_an_input_is_refused_as_an_input(hostile_pairs):
    """-o onto one of GT's files: refused as an input, not 'exists; pass --overwrite' (which
    would then be refused anyway)."""
    done = _segcli("score", "pred", "gt", "--metrics", "dice", "-o", "gt/plain.png", cwd=hostile_pairs)
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "segcli: error: --output gt/plain.png: is one of the input files; outputs never replace inputs"
    )


def test_printable_lines_keeps_the_lines():
    assert printable_lines("first \x1b[31m\nsecond") == "first \\x1b[31m\nsecond"


def _segcli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segcli", *map(str, args)],
        capture_output=True,
        cwd=cwd,
        env=os.environ | {"COLUMNS": "160"},
        timeout=120,
    )


@pytest.fixture
def hostile_pairs(tmp_path) -> Path:
    gt = np.zeros((16, 16), np.uint8)
    gt[3:10, 4:12] = 255
    for name in (HOSTILE, "[bold]x", "plain"):
        for folder in ("gt", "pred"):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(gt).save(tmp_path / folder / f"{name}.png")
    return tmp_path


def test_a_hostile_name_in_a_warning_is_one_line_without_control_characters(hostile_pairs):
    (hostile_pairs / "pred" / f"{HOSTILE}.png").write_bytes(b"not an image")
    done = _segcli("score", "pred", "gt", "--metrics", "dice", "-o", "out.csv", cwd=hostile_pairs)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert not any(c in err for c in "\x1b\x07\x9b\r"), err
    warning = next(line for line in err.splitlines() if "not scored" in line)
    assert "a\\x1b]0;owned\\x07\\x1b[2J\\x9bb.png" in warning
    # the data file keeps the two other names as they are
    rows = list(csv.reader(io.StringIO((hostile_pairs / "out.csv").read_text())))
    assert [r[0] for r in rows[1:3]] == ["[bold]x", "plain"]


def test_the_terminal_table_shows_names_as_they_are_escaped_not_as_markup(hostile_pairs):
    done = _segcli("score", "pred", "gt", "--metrics", "dice", "--format", "table", cwd=hostile_pairs)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "[bold]x" in out  # rich would have read [bold] as a style and shown 'x'
    assert "a\\x1b]0;owned\\x07\\x1b[2J\\x9bb" in out
    assert not any(c in out for c in "\x1b\x07\x9b"), out


def test_csv_keeps_a_hostile_name_as_it_is(hostile_pairs):
    done = _segcli("score", "pred", "gt", "--metrics", "dice", "-o", "out.csv", cwd=hostile_pairs)
    assert done.returncode == 0, done.stderr
    names = [r[0] for r in csv.reader(io.StringIO((hostile_pairs / "out.csv").read_text(), newline=""))]
    assert HOSTILE in names


def test_compare_table_shows_markup_in_a_name_as_text(hostile_pairs):
    for run in ("a.csv", "b.csv"):
        done = _segcli("score", "pred", "gt", "--metrics", "dice", "-o", run, cwd=hostile_pairs)
        assert done.returncode == 0, done.stderr
    (hostile_pairs / "[red]b.csv").write_bytes((hostile_pairs / "b.csv").read_bytes())
    done = _segcli("compare", "a.csv", "[red]b.csv", "--format", "table", cwd=hostile_pairs)
    assert done.returncode == 0, done.stderr
    assert "B = [red]b.csv" in done.stdout.decode()
