"""fsspec URLs as inputs: ``memory://`` and ``file://`` give the same records, maps and class
weights as plain paths; a URL without fsspec, an unknown protocol, a missing folder and a URL
output are one line each; plain paths never import fsspec."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from segcli.cli.main import app

fsspec = pytest.importorskip("fsspec")

METRICS = ["--metrics", "dice,hd95,assd,bce"]


def make_dataset(root: Path) -> Path:
    """pred/, gt/ (PNG, TIFF with spacing, NumPy probabilities, NIfTI, a nested folder, a hidden
    file, a broken prediction), masks/ (instances for weightmap) and labels/ (classweights)."""
    import nibabel as nib
    from scipy import ndimage

    from segcli.results.files import write_tiff

    rng = np.random.default_rng(17)
    for sub in ("pred", "gt", "pred/deep", "gt/deep", "masks", "labels", "gt/.hidden"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(4):
        gt = (ndimage.gaussian_filter(rng.standard_normal((48, 40)), 3) > 0).astype(np.uint8) * 255
        Image.fromarray(gt).save(root / "gt" / f"c{i}.png")
        Image.fromarray(np.roll(gt, i, axis=0)).save(root / "pred" / f"c{i}.png")
        labels = np.digitize(ndimage.gaussian_filter(rng.standard_normal((32, 32)), 2), [-0.2, 0.0, 0.2])
        Image.fromarray(labels.astype(np.uint8)).save(root / "labels" / f"l{i}.png")
    gt3 = ndimage.gaussian_filter(rng.standard_normal((6, 30, 30)), 2) > 0
    write_tiff(root / "gt" / "deep" / "vol.tif", gt3.astype(np.float32), overwrite=True, spacing=(2.0, 0.5, 0.5),
               unit="um")  # fmt: skip
    write_tiff(root / "pred" / "deep" / "vol.tif", np.roll(gt3, 1, axis=2).astype(np.float32), overwrite=True)
    np.save(root / "pred" / "prob.npy", rng.random((40, 40)).astype(np.float32))
    Image.fromarray((rng.random((40, 40)) > 0.5).astype(np.uint8)).save(root / "gt" / "prob.png")
    affine = np.diag([0.8, 0.75, 3.0, 1.0])
    nii = (ndimage.gaussian_filter(rng.standard_normal((20, 22, 5)), 2) > 0).astype(np.uint8)
    nib.save(nib.Nifti1Image(nii, affine), root / "gt" / "ct.nii.gz")
    nib.save(nib.Nifti1Image(np.roll(nii, 1, axis=0), affine), root / "pred" / "ct.nii.gz")
    (root / "pred" / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "gt" / "broken.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "gt" / ".hidden" / "c0.png")
    instances = np.zeros((40, 40), np.uint16)
    instances[5:15, 5:15], instances[16:30, 8:20], instances[10:20, 22:35] = 1, 2, 3
    write_tiff(root / "masks" / "cells.tif", instances, overwrite=True, spacing=(0.5, 0.5), unit="um")
    Image.fromarray((instances > 0).astype(np.uint8) * 255).save(root / "masks" / "binary.png")
    nib.save(nib.Nifti1Image(np.roll(nii, 2, axis=1), affine), root / "masks" / "ct.nii.gz")
    (root / "masks" / "broken.png").write_bytes(b"broken")
    return root


def to_memory(root: Path) -> str:
    """Copy the tree under ``root`` into fsspec's memory file system; its URL."""
    url = f"memory://segcli-{uuid.uuid4().hex[:8]}"
    memory = fsspec.filesystem("memory")
    for path in sorted(root.rglob("*")):
        if path.is_file():
            memory.pipe(f"{url[len('memory://') :]}/{path.relative_to(root).as_posix()}", path.read_bytes())
    return url


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("fsspec"))


def score(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, ["score", *args, *METRICS, "--workers", "1", "--missing", "skip"], env=env)


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_url_inputs_give_the_records_of_plain_paths(dataset, kind):
    local = score(str(dataset / "pred"), str(dataset / "gt"))
    root = to_memory(dataset) if kind == "memory" else f"file://{dataset}"
    remote = score(f"{root}/pred", f"{root}/gt/")
    assert local.exit_code == remote.exit_code == 1  # the broken prediction, on both
    assert local.stdout.count("\n") == 14  # header, 7 pairs (hidden file left out), 6 summary rows
    # Byte for byte, once the URL root in the path columns reads as the local folder.
    assert remote.stdout.replace(root, str(dataset)) == local.stdout
    assert f"{root}/pred/broken.png: cannot read" in remote.stderr
    assert remote.stderr.replace(root, str(dataset)) == local.stderr  # the same warnings (none of .hidden)


def test_a_url_against_a_local_folder_and_single_files(dataset):
    root = to_memory(dataset)
    mixed = score(f"{root}/pred", str(dataset / "gt"))
    local = score(str(dataset / "pred"), str(dataset / "gt"))
    assert mixed.stdout.replace(f"{root}/pred", str(dataset / "pred")) == local.stdout
    single = score(f"{root}/pred/ct.nii.gz", f"file://{dataset}/gt/ct.nii.gz")
    alone = score(str(dataset / "pred/ct.nii.gz"), str(dataset / "gt/ct.nii.gz"))
    assert single.exit_code == alone.exit_code == 0
    assert single.stdout.replace(f"{root}/", f"{dataset}/").replace("file://", "") == alone.stdout
    assert ",3x0.75x0.8," in single.stdout  # the NIfTI's spacing, read from the copy


def test_weightmap_from_urls_writes_the_same_files(dataset, tmp_path):
    def run(masks, out):
        return CliRunner().invoke(app, ["weightmap", masks, "--out", str(out), "--workers", "1", "--preview"])

    local = run(str(dataset / "masks"), tmp_path / "local")
    remote = run(to_memory(dataset) + "/masks", tmp_path / "remote")
    assert local.exit_code == remote.exit_code == 1 and "masks/broken.png: cannot read" in remote.stderr
    files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    assert [str(f) for f in files] == ["binary.png", "binary.tif", "cells.png", "cells.tif", "ct.nii.gz", "ct.png"]
    for name in files:
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


def test_classweights_from_urls(dataset):
    def run(root):
        return CliRunner().invoke(app, ["classweights", root, "--format", "json", "--workers", "1"])

    local, remote = run(str(dataset / "labels")), run(to_memory(dataset) + "/labels")
    assert local.exit_code == remote.exit_code == 0 and remote.stdout == local.stdout
    assert '"num_classes": 4' in remote.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "memory://segcli-none/pred", "memory://segcli-none/gt"], "memory://segcli-none/pred: no such file"),
        (["score", "nosuchproto://b/pred", "x"], "nosuchproto://b/pred: fsspec knows no protocol nosuchproto://"),
        (["classweights", "memory://segcli-none/l"], "memory://segcli-none/l: no such file or directory"),
    ],
)
def test_bad_urls_are_one_line(argv, message):
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_url_output_is_one_line(dataset, tmp_path):
    """Outputs are local: a URL given as one is refused before any work (the real entry point,
    whose usage errors are one line)."""
    for argv in (
        ["score", str(dataset / "pred"), str(dataset / "gt"), "-o", "s3://b/r.csv"],
        ["score", str(dataset / "pred"), str(dataset / "gt"), "--report", "gs://b/r.html"],
        ["weightmap", str(dataset / "masks"), "--out", "s3://b/maps"],
        ["classweights", str(dataset / "labels"), "--output", "memory://b/w.json"],
    ):
        done = subprocess.run([sys.executable, "-m", "segcli", *argv], capture_output=True, text=True, cwd=tmp_path)
        assert list(tmp_path.iterdir()) == []  # nothing written to a local "s3:/b/..."
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert done.stderr.count("\n") == 1 and "outputs are local paths (URLs are read, never written)" in done.stderr


def test_a_detached_header_at_a_url_is_named(tmp_path):
    from segcli.errors import ReadError
    from segcli.inputs.images import read_image

    (tmp_path / "v.nhdr").write_text("NRRD0004\n")
    with pytest.raises(ReadError, match=r"^file://.*v\.nhdr: a detached header \(\.nhdr\)"):
        read_image(f"file://{tmp_path}/v.nhdr")


def test_without_fsspec_a_url_names_the_extra(monkeypatch, dataset):
    import builtins

    real = builtins.__import__

    def no_fsspec(name, *args, **kwargs):
        if name.startswith("fsspec"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fsspec)
    for argv in (
        ["score", "memory://b/pred", str(dataset / "gt")],
        ["weightmap", "s3://b/masks", "--out", str(dataset / "never")],
        ["classweights", "gs://b/labels"],
    ):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "segcli[dask]" in result.stderr, result.stderr
    assert not (dataset / "never").exists()


def test_plain_paths_do_not_import_fsspec(dataset):
    code = (
        "import sys\n"
        "from segcli.cli.main import app\n"
        f"sys.argv = ['segcli', 'score', {str(dataset / 'pred')!r}, {str(dataset / 'gt')!r}, '--missing', 'skip',"
        " '--workers', '1', '--metrics', 'dice']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "assert 'fsspec' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 0, done.stderr


def test_url_arguments_are_checked():
    from segcli.inputs.remote import Url, as_input, is_url, local_path

    assert is_url("s3://b/k") and not is_url("/data/s3:/b") and not is_url(Path("x"))
    assert isinstance(as_input("gs://b/k"), Url) and as_input("a/b") == Path("a/b")
    assert Url("s3://b/dir/").name == "dir" and Url("s3://b/x.nii.gz").suffix == ".gz"
    assert local_path(Url("file:///tmp/a.png")) == Path("/tmp/a.png") and local_path(Url("memory://x/a")) is None
    with pytest.raises(ValueError, match="url: expected protocol://path"):
        Url("relative/path")
    with pytest.raises(TypeError, match="location: expected a str, Path or Url"):
        as_input(3)
    with pytest.raises(TypeError):
        Path(Url("s3://b/k"))  # never silently a local path


def test_score_files_takes_urls(dataset):
    import segcli

    root = to_memory(dataset)
    local = list(segcli.score_files(dataset / "pred", dataset / "gt", "dice,hd95", missing="skip"))
    remote = list(segcli.score_files(f"{root}/pred", f"{root}/gt", "dice,hd95", missing="skip"))
    for record in (*local, *remote):
        for column in ("pred_path", "gt_path", "error"):
            record.pop(column, None)
    assert remote == local and len(local) == 8
    with pytest.raises(TypeError, match="pred: expected a path or URL, got int"):
        list(segcli.score_files(3, dataset / "gt"))


def test_remote_functions_check_their_arguments(tmp_path):
    from segcli.errors import ReadError
    from segcli.inputs.remote import Url, list_files, local_copy, read_bytes

    with pytest.raises(TypeError, match="url: expected a Url, got str"):
        read_bytes("memory://b/x.png")
    with pytest.raises(TypeError, match="url: expected a Url, got PosixPath"):
        list_files(tmp_path)
    with pytest.raises(ReadError, match=r"^memory://segcli-none/x\.nii: no such file$"):
        with local_copy(Url("memory://segcli-none/x.nii")):
            pass


def test_a_url_folder_never_takes_a_sibling_sharing_its_prefix():
    from segcli.inputs.pairing import find_images

    memory = fsspec.filesystem("memory")
    root = f"segcli-{uuid.uuid4().hex[:8]}"
    png = Path(__file__).resolve().parents[2] / "sample_data" / "gt" / "case01.png"
    for name in ("pred/a.png", "pred/deep/b.png", "pred2/c.png", "pred/.cache/d.png", "pred/notes.txt"):
        memory.pipe(f"/{root}/{name}", png.read_bytes())
    found = find_images(f"memory://{root}/pred")
    assert {key: str(url) for key, url in found.items()} == {
        "a": f"memory://{root}/pred/a.png",
        "deep/b": f"memory://{root}/pred/deep/b.png",
    }


def test_an_empty_location_is_refused_not_the_current_directory():
    from segcli.errors import UsageError
    from segcli.inputs.remote import Url, as_input

    for empty in ("", "file://", "memory://"):
        with pytest.raises(UsageError, match=f"^empty path {empty!r}: an empty input is refused"):
            as_input(empty)
    with pytest.raises(UsageError, match="^GT: empty path ''"):
        as_input("", name="GT")
    assert as_input("file:///") == Url("file:///") and as_input(".") == Path(".")
    # A child of the file system's root keeps the three slashes (was file:/a.png, an internal error).
    assert Url("file:///").joinpath("a.png") == Url("file:///a.png")
    assert Url("s3://b/pred/").joinpath("x/a.png") == Url("s3://b/pred/x/a.png")
