"""Finding the input files under a directory (``score``, ``weightmap``, ``classweights``,
``--rater``): symbolic links to directories are followed and keyed by their path under the root,
a symbolic link loop, a directory that cannot be listed and an empty path are one line each
(exit 2, before any work); never a file skipped silently, never the current directory by accident.

Expectations are worked out by hand from the trees the tests build.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import segcli
from segcli.cli.main import app
from segcli.errors import UsageError
from segcli.inputs import pairing
from segcli.inputs.pairing import find_images, pair_files


@pytest.fixture
def runner():
    return CliRunner()


def _png(path: Path, fill: int = 3) -> Path:
    """An 8x8 0/255 mask with a ``fill`` x ``fill`` square of 255."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((8, 8), np.uint8)
    array[2 : 2 + fill, 2 : 2 + fill] = 255
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def linked(tmp_path):
    """P/x.png, P/site1 -> ../real/p (c0.png, deep/c1.png); G likewise with real/g. Pairs: site1/c0,
    site1/deep/c1, x."""
    for side in ("p", "g"):
        _png(tmp_path / "real" / side / "c0.png")
        _png(tmp_path / "real" / side / "deep" / "c1.png", fill=2)
        root = tmp_path / side.upper()
        _png(root / "x.png", fill=4)
        (root / "site1").symlink_to(Path("..") / "real" / side, target_is_directory=True)
    return tmp_path


def _names(stdout: str) -> list[str]:
    return [row["name"] for row in csv.DictReader(io.StringIO(stdout)) if not row["name"].startswith("summary:")]


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segcli: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# --- symbolic links to directories ---------------------------------------------------------------


def test_score_follows_symlinked_directories(runner, linked):
    result = runner.invoke(app, ["score", str(linked / "P"), str(linked / "G"), "--metrics", "dice", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert _names(result.stdout) == ["site1/c0", "site1/deep/c1", "x"]
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["pred_path"] == str(linked / "P" / "site1" / "c0.png")  # the path as seen under the root


def test_find_images_keys_files_by_their_path_under_the_root(linked):
    found = find_images(linked / "P")
    assert list(found) == ["site1/c0", "site1/deep/c1", "x"]  # sorted by path components
    assert found["site1/deep/c1"] == linked / "P" / "site1" / "deep" / "c1.png"
    pairs = pair_files(str(linked / "P"), str(linked / "G")).pairs
    assert [pair.name for pair in pairs] == ["site1/c0", "site1/deep/c1", "x"]


def test_two_links_to_one_directory_are_both_searched(tmp_path):
    _png(tmp_path / "real" / "a.png")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "one").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "root" / "two").symlink_to(tmp_path / "real", target_is_directory=True)
    assert list(find_images(tmp_path / "root")) == ["one/a", "two/a"]  # side by side: no loop


def test_a_symlinked_root_and_hidden_links_keep_their_rules(tmp_path):
    _png(tmp_path / "real" / "a.png")
    _png(tmp_path / "other" / "b.png")
    (tmp_path / "root").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real" / ".cache").symlink_to(tmp_path / "other", target_is_directory=True)  # hidden: not searched
    (tmp_path / "real" / "notes").symlink_to(tmp_path / "nowhere")  # a broken link not named like an image
    assert list(find_images(tmp_path / "root")) == ["a"]


def test_weightmap_and_classweights_follow_symlinked_directories(runner, linked, tmp_path):
    out = tmp_path / "maps"
    result = runner.invoke(app, ["weightmap", str(linked / "G"), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert [name for name in written if not name.endswith(".png")] == ["site1/c0.tif", "site1/deep/c1.tif", "x.tif"]
    result = runner.invoke(app, ["classweights", str(linked / "G"), "--format", "csv", "--workers", "1"])
    assert result.exit_code == 0, result.output
    counts = {row["class"]: int(row["count"]) for row in csv.DictReader(io.StringIO(result.stdout))}
    # Foreground squares of 3x3 (site1/c0), 2x2 (site1/deep/c1) and 4x4 (x): 29 of 3 x 64 pixels.
    assert counts == {"0": 3 * 64 - 29, "1": 29}


@pytest.mark.parametrize("link", ["site1/back", "self"])
def test_a_symlink_loop_is_refused_by_name(runner, linked, link):
    target = ".." if link == "site1/back" else "."
    # site1/back -> .. is real/, whose p/ is site1 itself; self -> . is the root.
    (linked / "real" / "p" / "back" if link == "site1/back" else linked / "P" / "self").symlink_to(target)
    with pytest.raises(UsageError, match="symbolic link loop") as caught:
        find_images(linked / "P")
    assert str(caught.value).startswith(
        f"{linked / 'P' / 'site1' / 'back' / 'p'}: the same directory as {linked / 'P' / 'site1'}"
        if link == "site1/back"
        else f"{linked / 'P' / 'self'}: the same directory as {linked / 'P'}"
    )
    result = runner.invoke(app, ["score", str(linked / "P"), str(linked / "G"), "--metrics", "dice"])
    assert result.exit_code == 2
    assert "symbolic link loop" in _one_error_line(result)


def test_a_looping_link_named_like_an_image_is_a_broken_link(tmp_path):
    _png(tmp_path / "root" / "a.png")
    (tmp_path / "root" / "b.png").symlink_to("b.png")  # ELOOP
    with pytest.raises(UsageError, match=r"b\.png: a broken symbolic link"):
        find_images(tmp_path / "root")


# --- directories that cannot be listed ---------------------------------------------------------------


def _deny(monkeypatch, denied: Path) -> None:
    """``os.scandir`` of ``denied`` (as pairing spells it) fails as a directory without permission does."""
    real = os.scandir

    def scandir(path="."):
        if Path(path) == denied:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(pairing.os, "scandir", scandir)


@pytest.mark.parametrize("command", ["score", "weightmap", "classweights"])
def test_a_directory_that_cannot_be_listed_is_one_usage_error(runner, linked, tmp_path, monkeypatch, command):
    _png(linked / "G" / "site2" / "c2.png")
    _png(linked / "P" / "site2" / "c2.png")
    _deny(monkeypatch, linked / "G" / "site2")
    args = {
        "score": ["score", str(linked / "P"), str(linked / "G"), "--metrics", "dice"],
        "weightmap": ["weightmap", str(linked / "G"), "--out", str(tmp_path / "maps")],
        "classweights": ["classweights", str(linked / "G")],
    }[command]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert line == (
        f"segcli: error: {linked / 'G' / 'site2'}: cannot list this directory (Permission denied); "
        "its files are never skipped silently"
    )
    assert result.stdout == ""
    assert not (tmp_path / "maps").exists() or not any((tmp_path / "maps").rglob("*.tif"))  # before any work


def test_a_symlinked_directory_that_cannot_be_listed_is_named_under_the_root(linked, monkeypatch):
    _deny(monkeypatch, linked / "P" / "site1")
    with pytest.raises(UsageError, match=f"^{linked / 'P' / 'site1'}: cannot list this directory"):
        find_images(linked / "P")


def _without_read_permission() -> list[str] | None:
    """The prefix that runs a command without the power to read what mode 000 forbids (root drops
    its DAC override with setpriv); None where that cannot be arranged."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    return prefix if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0 else None


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_real_unreadable_directory_is_refused(linked):
    prefix = _without_read_permission()
    if prefix is None:
        pytest.skip("cannot drop the permission to read a mode 000 directory here")
    for side in ("P", "G"):
        _png(linked / side / "site2" / "c2.png")
        (linked / side / "site2").chmod(0)
    try:
        probe = [*prefix, sys.executable, "-c", "import os, sys; os.listdir(sys.argv[1])", str(linked / "P" / "site2")]
        if subprocess.run(probe, capture_output=True).returncode == 0:
            pytest.skip("mode 000 does not stop this user listing a directory")
        code = "import sys\nfrom segcli.cli.main import app\nsys.argv[0] = 'segcli'\napp()\n"
        args = ["score", str(linked / "P"), str(linked / "G"), "--metrics", "dice", "--workers", "1"]
        done = subprocess.run([*prefix, sys.executable, "-c", code, *args], capture_output=True, text=True)
    finally:
        for side in ("P", "G"):
            (linked / side / "site2").chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"segcli: error: {linked / 'P' / 'site2'}: cannot list this directory (Permission denied); "
        "its files are never skipped silently"
    ]
    assert done.stdout == ""


# --- empty paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["classweights", ""],
        ["classweights", "file://"],
        ["score", "", "GT"],
        ["score", "PRED", ""],
        ["score", "PRED", "GT", "--rater", ""],
        ["weightmap", "", "--out", "OUT"],
    ],
)
def test_an_empty_path_is_refused_not_read_as_the_current_directory(runner, tmp_path, monkeypatch, args):
    _png(tmp_path / "PRED" / "a.png")
    _png(tmp_path / "GT" / "a.png")
    _png(tmp_path / "a.png")  # what the current directory would have given
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*args, "--workers", "1"])
    assert result.exit_code == 2, result.output
    assert "empty path" in _one_error_line(result)
    assert result.stdout == "" and not (tmp_path / "OUT").exists()


def test_the_library_refuses_an_empty_path(tmp_path, monkeypatch):
    _png(tmp_path / "a.png")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="empty path ''"):
        find_images("")
    with pytest.raises(UsageError, match="empty path"):
        pair_files("", "a.png")
    with pytest.raises(ValueError, match="empty path"):  # the API's error for a bad argument
        list(segcli.score_files("a.png", ""))


def test_an_empty_images_option_is_refused(runner, tmp_path, monkeypatch):
    _png(tmp_path / "PRED" / "a.png")
    _png(tmp_path / "GT" / "a.png")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["score", "PRED", "GT", "--metrics", "dice", "--report", "r.html", "--images", "", "--workers", "1"]
    )
    assert result.exit_code == 2 and "--images" in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["score", "", "GT"], "PRED: empty path"),
        (["score", "PRED", ""], "GT: empty path"),
        (["score", "PRED", "GT", "--rater", ""], "--rater: empty path"),
        (["score", "PRED", "GT", "--labels", ""], "'--labels': an empty path"),
        (["classweights", ""], "DATASET: empty path"),
        (["weightmap", "", "--out", "w"], "MASKS: empty path"),
    ],
)
def test_an_empty_input_is_refused_naming_its_argument(runner, tmp_path, monkeypatch, args, named):
    _png(tmp_path / "PRED" / "a.png")
    _png(tmp_path / "GT" / "a.png")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert named in result.stderr
    assert not (tmp_path / "w").exists()
