"""Finding the input files under a directory (``score``, ``weightmap``, ``classweights``,
``--rater``): symbolic links to directories are followed and keyed by their path under the root,
a symbolic link loop, a directory that cannot be listed and an empty path are one line each
(exit 2, before any work); never a file skipped silently, never the current directory by accident.

Expectations are worked out by hand from the trees the tests build.
"""

from __future__ import annotations

import csv
import errno
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
from segcli.errors import PairingError, UsageError
from segcli.inputs import pairing
from segcli.inputs.pairing import Pair, find_images, pair_files


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


# segcli/inputs/pairing.py: keys without extension and suffix, suffix only at the end, hidden files and
# non-images ignored, the error listing every unmatched file, --missing skip and empty.

PNG = Path(__file__).resolve().parents[2] / "sample_data" / "gt" / "case01.png"


def _tree(tmp_path, where: str, names) -> Path | str:
    """The files ``names`` (a copy of one PNG, or text) under a local folder or a ``memory://`` one."""
    if where == "local":
        root = tmp_path / "root"
        for name in names:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(PNG.read_bytes())
        return root
    import uuid

    import fsspec

    memory = fsspec.filesystem("memory")
    root = f"segcli-{uuid.uuid4().hex[:8]}/root"
    for name in names:
        memory.pipe(f"/{root}/{name}", PNG.read_bytes())
    return f"memory://{root}"


def _keys(found) -> dict[str, str]:
    return {key: str(path) for key, path in found.items()}


@pytest.mark.parametrize("where", ["local", "url"])
def test_keys_lose_extension_and_suffix_only_at_the_end(tmp_path, where):
    names = [
        "a.png",
        "sub/b.nii.gz",
        "c_0000.png",
        "x_0000y.png",
        "dXXXX.png",
        "README.txt",
        ".hidden.png",
        ".cache/e.png",
    ]
    root = _tree(tmp_path, where, names)
    assert _keys(find_images(root)) == {
        "a": f"{root}/a.png",
        "sub/b": f"{root}/sub/b.nii.gz",
        "c_0000": f"{root}/c_0000.png",
        "x_0000y": f"{root}/x_0000y.png",
        "dXXXX": f"{root}/dXXXX.png",  # no suffix is removed unless one is given
    }
    assert _keys(find_images(root, suffix="_0000")) == {
        "a": f"{root}/a.png",
        "sub/b": f"{root}/sub/b.nii.gz",
        "c": f"{root}/c_0000.png",
        "x_0000y": f"{root}/x_0000y.png",
        "dXXXX": f"{root}/dXXXX.png",
    }


@pytest.mark.parametrize("where", ["local", "url"])
def test_a_single_file_is_keyed_by_its_name_and_two_files_are_a_pair(tmp_path, where):
    root = _tree(tmp_path, where, ["p/c_0000.png", "g/other.png", "g/notes.txt"])
    assert _keys(find_images(f"{root}/p/c_0000.png", suffix="_0000")) == {"c": f"{root}/p/c_0000.png"}
    assert _keys(find_images(f"{root}/p/c_0000.png")) == {"c_0000": f"{root}/p/c_0000.png"}
    pairing = pair_files(f"{root}/p/c_0000.png", f"{root}/g/other.png")  # two files: a pair whatever their names
    assert [(p.name, str(p.pred), str(p.gt)) for p in pairing.pairs] == [
        ("other", f"{root}/p/c_0000.png", f"{root}/g/other.png")
    ]
    assert pairing.unmatched_pred == [] and pairing.unmatched_gt == []
    with pytest.raises(UsageError) as text:
        find_images(f"{root}/g/notes.txt")
    assert str(text.value) == f"{root}/g/notes.txt: not a supported image file"


@pytest.mark.parametrize("where", ["local", "url"])
def test_two_files_with_one_key_and_a_folder_without_images_are_refused(tmp_path, where):
    root = _tree(tmp_path, where, ["d/a.png", "d/a_0000.tif", "t/notes.txt"])
    assert len(find_images(f"{root}/d")) == 2  # a and a_0000
    with pytest.raises(UsageError) as same:
        find_images(f"{root}/d", suffix="_0000")
    assert str(same.value) == f"{root}/d/a_0000.tif: same name as {root}/d/a.png once the extension is removed"
    with pytest.raises(UsageError) as empty:
        find_images(f"{root}/t")
    assert str(empty.value) == (
        f"{root}/t: no image files found (TIFF, PNG, BMP, JPEG, NPY, NPZ, NIfTI, NRRD, MHA/MHD)"
    )


def test_a_missing_root_and_a_broken_link_root_are_told_apart(tmp_path):
    with pytest.raises(UsageError) as missing:
        find_images(tmp_path / "nothing")
    assert str(missing.value) == f"{tmp_path / 'nothing'}: no such file or directory"
    (tmp_path / "link").symlink_to(tmp_path / "nothing")
    with pytest.raises(UsageError) as broken:
        find_images(tmp_path / "link")
    assert str(broken.value) == f"{tmp_path / 'link'}: a symbolic link that leads nowhere (broken, or a loop)"


@pytest.fixture
def unmatched(tmp_path):
    for name in (
        "pred/a.png",
        "pred/b_0000.png",
        "pred/p_only.png",
        "gt/a.png",
        "gt/aa.png",
        "gt/b.png",
        "gt/g_only.png",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(PNG.read_bytes())
    return tmp_path / "pred", tmp_path / "gt"


def test_unmatched_files_are_all_listed(unmatched):
    pred, gt = unmatched
    with pytest.raises(PairingError) as refused:
        pair_files(pred, gt, pred_suffix="_0000")
    assert str(refused.value) == (
        "3 unmatched file(s) (use missing skip|empty): "
        f"prediction without ground truth: {pred / 'p_only.png'}; "
        f"ground truth without prediction: {gt / 'aa.png'}; "
        f"ground truth without prediction: {gt / 'g_only.png'}"
    )


def test_missing_skip_and_empty(unmatched):
    pred, gt = unmatched
    skipped = pair_files(pred, gt, pred_suffix="_0000", missing="skip")
    assert skipped.pairs == [Pair("a", pred / "a.png", gt / "a.png"), Pair("b", pred / "b_0000.png", gt / "b.png")]
    assert skipped.unmatched_pred == [pred / "p_only.png"]
    assert skipped.unmatched_gt == [gt / "aa.png", gt / "g_only.png"]
    empty = pair_files(pred, gt, pred_suffix="_0000", missing="empty")
    assert empty.pairs == [  # by name: a GT without prediction takes its place among the others
        Pair("a", pred / "a.png", gt / "a.png"),
        Pair("aa", None, gt / "aa.png"),
        Pair("b", pred / "b_0000.png", gt / "b.png"),
        Pair("g_only", None, gt / "g_only.png"),
    ]
    assert empty.unmatched_pred == [pred / "p_only.png"]
    assert empty.unmatched_gt == [gt / "aa.png", gt / "g_only.png"]
    with pytest.raises(UsageError) as bad:
        pair_files(pred, gt, missing="ignore")
    assert str(bad.value) == "missing: expected error, skip or empty, got 'ignore'"


def test_no_pair_at_all_is_an_error_even_when_skipping(unmatched):
    pred, gt = unmatched
    with pytest.raises(PairingError) as none:
        pair_files(pred / "p_only.png", gt, missing="skip")  # one file against a folder: keyed, not paired blindly
    assert str(none.value) == f"no prediction in {pred / 'p_only.png'} matches a ground truth in {gt}"


def test_an_image_name_that_is_not_a_regular_file_is_refused_by_what_it_is(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.png").write_bytes(PNG.read_bytes())
    os.mkfifo(tmp_path / "d" / "b.png")
    with pytest.raises(UsageError) as fifo:
        find_images(tmp_path / "d")
    assert str(fifo.value) == (
        f"{tmp_path / 'd' / 'b.png'}: not a regular file; an image name that cannot be read is never skipped silently"
    )
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "c.png").symlink_to(tmp_path / "d" / "b.png")  # a link that leads somewhere: not broken
    with pytest.raises(UsageError, match=r"c\.png: not a regular file;"):
        find_images(tmp_path / "e")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "d.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(UsageError, match=r"d\.png: a broken symbolic link;"):
        find_images(tmp_path / "f")


class _Unexaminable:
    """A directory entry whose type or identity cannot be learnt (behind a folder without
    permission, which root cannot arrange): every other answer is the real entry's."""

    def __init__(self, entry, fails: str) -> None:
        self._entry, self._fails = entry, fails
        self.name, self.path = entry.name, entry.path

    def __getattr__(self, attribute):
        if attribute == self._fails:

            def denied(*args, **kwargs):
                raise PermissionError(errno.EACCES, "Permission denied", self.path)

            return denied
        return getattr(self._entry, attribute)


@pytest.mark.parametrize(("name", "fails"), [("a.png", "is_file"), ("sub", "is_dir"), ("sub", "stat")])
def test_an_entry_that_cannot_be_examined_is_named(tmp_path, monkeypatch, name, fails):
    from segcli.inputs import pairing

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(PNG.read_bytes())
    (tmp_path / "sub" / "b.png").write_bytes(PNG.read_bytes())
    listing = pairing._listing
    monkeypatch.setattr(
        pairing, "_listing", lambda d: [_Unexaminable(e, fails) if e.name == name else e for e in listing(d)]
    )
    with pytest.raises(UsageError) as refused:
        find_images(tmp_path)
    assert str(refused.value) == f"{tmp_path / name}: cannot be examined (Permission denied)"


def test_a_root_that_cannot_be_examined_is_named(tmp_path):
    from segcli.inputs import pairing

    with pytest.raises(UsageError) as refused:  # gone between the checks and the walk
        list(pairing._walk_local(tmp_path / "gone"))
    assert str(refused.value) == f"{tmp_path / 'gone'}: cannot be examined (No such file or directory)"


def test_each_side_drops_its_own_suffix_and_none_by_default(tmp_path):
    for name in ("p/c.png", "p/eXXXX.png", "g/c_0000.png", "g/eXXXX_0000.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(PNG.read_bytes())
    pairing = pair_files(tmp_path / "p", tmp_path / "g", gt_suffix="_0000")
    assert pairing.pairs == [
        Pair("c", tmp_path / "p" / "c.png", tmp_path / "g" / "c_0000.png"),
        Pair("eXXXX", tmp_path / "p" / "eXXXX.png", tmp_path / "g" / "eXXXX_0000.png"),
    ]
    swapped = pair_files(tmp_path / "g", tmp_path / "p", pred_suffix="_0000")
    assert [pair.name for pair in swapped.pairs] == ["c", "eXXXX"]


def test_unmatched_files_on_one_side_only_are_an_error_too(tmp_path):
    for name in ("p/a.png", "g/a.png", "g/b.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(PNG.read_bytes())
    with pytest.raises(PairingError) as refused:
        pair_files(tmp_path / "p", tmp_path / "g")
    assert str(refused.value) == (
        f"1 unmatched file(s) (use missing skip|empty): ground truth without prediction: {tmp_path / 'g' / 'b.png'}"
    )
    with pytest.raises(PairingError, match=r"^1 unmatched file\(s\).*prediction without ground truth: .*b\.png$"):
        pair_files(tmp_path / "g", tmp_path / "p")
