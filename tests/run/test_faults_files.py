"""Trust at the edges of reading files, `segcli weightmap` and `segcli classweights`: a file is
read as it is or refused by name, options are checked before any work, one bad file never costs
the others, outputs never clobber inputs, and every failure is one line with its exit code.

Each test names the guarantee it guards (the README's "Guarantees" lists them).
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from segcli import classweights as cw
from segcli import weightmaps as map_writer
from segcli.cli.main import app
from segcli.engine.maps import distance_weight_map, map_for_image, unet_weight_map
from segcli.errors import ReadError
from segcli.inputs.images import read_image
from segcli.results.outputs import OutputLock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runner():
    return CliRunner()


def _png(path: Path, array) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def _cells(shift: int = 0) -> np.ndarray:
    mask = np.zeros((24, 24), np.uint8)
    mask[3:9, 3 + shift : 9 + shift] = 255
    mask[12:20, 12:20] = 255
    return mask


@pytest.fixture
def masks(tmp_path) -> Path:
    for i in range(4):
        _png(tmp_path / "m" / f"c{i}.png", _cells(i))
    return tmp_path / "m"


def _one_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert all(line.startswith("segcli: ") for line in stderr.splitlines()), stderr


# --- reading files -----------------------------------------------------------------------------


def test_tiff_pages_of_different_shapes_are_an_error_naming_the_file(tmp_path):
    with tifffile.TiffWriter(tmp_path / "mixed.tif") as tif:
        tif.write(np.zeros((5, 6), np.uint8))
        tif.write(np.ones((7, 8), np.uint8))
    with pytest.raises(ReadError, match=r"mixed.tif: multi-page TIFF whose 2 images differ in shape \(5x6, 7x8\)"):
        read_image(tmp_path / "mixed.tif")
    # Equal pages written one by one (tifffile then sees one series per page) are every slice.
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:
        for value in range(3):
            tif.write(np.full((5, 6), value, np.uint8))
    volume = read_image(tmp_path / "pages.tif").array
    assert volume.shape == (3, 5, 6) and volume[:, 0, 0].tolist() == [0, 1, 2]


def test_rgb_tiff_is_collapsed_like_png_or_refused_never_a_volume(tmp_path):
    grey = np.zeros((5, 6), np.uint8)
    grey[1:3, 2:5] = 255
    tifffile.imwrite(tmp_path / "rgb.tif", np.stack([grey] * 3, -1), photometric="rgb")
    tifffile.imwrite(tmp_path / "rgba.tif", np.stack([grey] * 3 + [np.full_like(grey, 255)], -1), photometric="rgb")
    tifffile.imwrite(tmp_path / "planar.tif", np.stack([grey] * 3), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "rgbvol.tif", np.stack([np.stack([grey] * 3, -1)] * 4), photometric="rgb")
    for name in ("rgb.tif", "rgba.tif", "planar.tif"):
        np.testing.assert_array_equal(read_image(tmp_path / name).array, grey, err_msg=name)
    assert read_image(tmp_path / "rgbvol.tif").array.shape == (4, 5, 6)
    colour = np.stack([grey, np.zeros_like(grey), grey], -1)
    tifffile.imwrite(tmp_path / "colour.tif", colour, photometric="rgb")
    with pytest.raises(ReadError, match="colour.tif: colour image"):
        read_image(tmp_path / "colour.tif")


@pytest.mark.parametrize(
    ("tag", "value", "shown"),
    [
        ("XResolution", (0, 1), "XResolution: 0/1"),
        ("XResolution", (4, 0), "XResolution: 4/0"),
        ("spacing", 0.0, "'spacing': 0.0"),
        ("spacing", -2.0, "'spacing': -2.0"),
        ("spacing", float("nan"), "'spacing': nan"),
        ("spacing", float("inf"), "'spacing': inf"),
    ],
)
def test_bad_spacing_in_tiff_tags_is_an_error_naming_file_and_value(tmp_path, tag, value, shown):
    path = tmp_path / "v.tif"
    spacing = value if tag == "spacing" else 2.0
    tifffile.imwrite(
        path, np.zeros((3, 5, 6), np.uint8), imagej=True, resolution=(4, 4), metadata={"spacing": spacing, "unit": "um"}
    )
    if tag != "spacing":
        with tifffile.TiffFile(path, mode="r+") as tif:
            tif.pages[0].tags[tag].overwrite(value)
    with pytest.raises(ReadError, match=f"v.tif: bad spacing in .*{shown}"):
        read_image(path)
    # A caller that overrides the spacing is not stopped by the broken tag.
    assert read_image(path, spacing=False).array.shape == (3, 5, 6)


def test_bad_spacing_tag_fails_its_file_unless_spacing_is_given(runner, tmp_path, masks):
    tifffile.imwrite(
        masks / "v.tif",
        _cells()[None].repeat(3, 0),
        imagej=True,
        resolution=(4, 4),
        metadata={"spacing": -1.0, "unit": "um"},
    )
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 1 and "v.tif: bad spacing in ImageJ metadata 'spacing': -1.0" in result.stderr
    given = runner.invoke(
        app, ["weightmap", str(masks), "--out", str(tmp_path / "o2"), "--workers", "1", "--spacing", "1"]
    )
    assert given.exit_code == 0 and (tmp_path / "o2/v.tif").exists()


@pytest.mark.parametrize("compression", ["lzw", "zstd", "deflate"])
def test_compressed_tiffs_read(tmp_path, compression):
    mask = _cells()
    tifffile.imwrite(tmp_path / "c.tif", mask, compression=compression)
    np.testing.assert_array_equal(read_image(tmp_path / "c.tif").array, mask)


def test_imagecodecs_is_a_dependency():
    block = re.search(r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.S | re.M)
    assert re.search(r'^\s*"imagecodecs[<>=!~ "]', block.group(1), re.M)


# --- weightmap: outputs never clobber inputs ---------------------------------------------------


@pytest.mark.parametrize("where", ["same", "inside", "inside-overwrite", "link"])
def test_weightmap_out_equal_to_or_inside_masks_is_refused(runner, tmp_path, masks, where):
    out = {
        "same": masks,
        "inside": masks / "maps",
        "inside-overwrite": masks / "maps",
        "link": tmp_path / "link",
    }[where]
    if where == "link":
        out.symlink_to(masks)
    args = ["weightmap", str(masks), "--out", str(out), "--workers", "1"]
    result = runner.invoke(app, [*args, "--overwrite"] if where != "inside" else args)
    assert result.exit_code == 2, result.output
    assert "--out" in result.stderr and "outputs must never be read back as inputs" in result.stderr
    _one_line(result.stderr)
    assert sorted(p.name for p in masks.rglob("*")) == [f"c{i}.png" for i in range(4)]


def test_weightmap_output_that_would_replace_an_input_is_refused(runner, tmp_path):
    """MASKS inside --out: key 'm/j' writes out/m/j.tif, which is the input m/j.tif itself."""
    out = tmp_path / "o"
    _png(out / "m" / "m" / "j.png", _cells())
    tifffile.imwrite(out / "m" / "j.tif", _cells())
    before = (out / "m" / "j.tif").read_bytes()
    result = runner.invoke(app, ["weightmap", str(out / "m"), "--out", str(out), "--overwrite", "--workers", "1"])
    assert result.exit_code == 2 and "an output would replace the input" in result.stderr
    assert (out / "m" / "j.tif").read_bytes() == before


def test_weightmap_out_checked_before_any_work(runner, tmp_path, masks, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before --out was checked")

    monkeypatch.setattr(map_writer, "read_image", no_work)
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "file"), "--workers", "1"])
    assert result.exit_code == 2 and "--out" in result.stderr and "not a directory" in result.stderr
    _one_line(result.stderr)


def test_weightmap_second_run_on_the_same_out_refuses(runner, tmp_path, masks):
    out = tmp_path / "o"
    with OutputLock(out):  # a live run (this process) holds it
        result = runner.invoke(app, ["weightmap", str(masks), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 2 and "another segcli run" in result.stderr
    assert not out.exists() or not any(out.iterdir())
    again = runner.invoke(app, ["weightmap", str(masks), "--out", str(out), "--workers", "1"])
    assert again.exit_code == 0 and len(list(out.glob("*.tif"))) == 4
    assert not list(tmp_path.glob(".o.segcli-lock"))  # released after the run


# --- weightmap: options validated at the edge --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--sigma", "nan"], "--sigma"),
        (["--sigma", "inf"], "--sigma"),
        (["--sigma", "0"], "--sigma"),
        (["--w0", "-10"], "--w0"),
        (["--w0", "nan"], "--w0"),
        (["--w0", "inf"], "--w0"),
        (["--wc", "1,nan"], "--wc"),
        (["--wc", "1,-2"], "--wc"),
        (["--wc", "1,2,3"], "--wc"),
        (["--workers", "0"], "--workers"),
        (["--connectivity", "3"], "--connectivity"),
        # beyond float32, the maps' type: they would be written as inf
        (["--w0", "1e39"], "--w0"),
        (["--sigma", "1e39"], "--sigma"),
        (["--wc", "1e39,1"], "--wc"),
        (["--w0", "3e38", "--wc", "1,3e38"], "--w0"),
    ],
)
def test_weightmap_bad_option_values_exit_2_naming_the_flag(runner, tmp_path, masks, args, flag):
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert flag in result.stderr and len(result.stderr.splitlines()) == 1
    _one_line(result.stderr)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda a: unet_weight_map(a, sigma=float("nan")), "sigma"),
        (lambda a: unet_weight_map(a, w0=-10), "w0"),
        (lambda a: unet_weight_map(a, class_weights=np.array([1.0, np.nan])), "class_weights"),
        (lambda a: unet_weight_map(a, spacing=(1.0, 0.0)), "spacing"),
        (lambda a: map_for_image(a, "unet", w0=float("inf")), "w0"),
        (lambda a: map_for_image(a, "unet", class_weights=(1.0, float("nan"))), "class_weights"),
        (lambda a: map_for_image(a, "unet", connectivity=3), "connectivity"),
        (lambda a: map_for_image(a, "nope"), "kind"),
        (lambda a: distance_weight_map(a > 0, tau=float("nan")), "tau"),
        (lambda a: unet_weight_map(a, w0=1e39), "w0"),
        (lambda a: unet_weight_map(a, class_weights=(1.0, 1e39)), "class_weights"),
        (lambda a: unet_weight_map(a, w0=3e38, class_weights=(1.0, 3e38)), "w0"),
    ],
)
def test_map_functions_validate_their_arguments(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}: ") as caught:
        call(np.array([[1, 0, 2]]))
    assert "--" not in str(caught.value)


def test_weightmap_workers_above_files_or_cores_capped_and_said(runner, tmp_path, masks):
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "o"), "--workers", "4096"])
    assert result.exit_code == 0 and "--workers 4096 capped at" in result.stderr
    assert len(list((tmp_path / "o").glob("*.tif"))) == 4


def test_weightmap_labels_far_beyond_the_image_size_are_not_tables_of_that_size(runner, tmp_path, monkeypatch):
    import segcli.engine.distance

    real_sdf, calls = segcli.engine.distance.kervadec_sdf, []

    def counted_sdf(*args, **kwargs):  # a guard that fails would loop over 4e9 classes
        calls.append(1)
        assert len(calls) < 100, "one sdf channel per label up to 4e9"
        return real_sdf(*args, **kwargs)

    monkeypatch.setattr(segcli.engine.distance, "kervadec_sdf", counted_sdf)
    labels = np.zeros((24, 24), np.uint32)
    labels[2:8, 2:8] = 4_000_000_000
    labels[10:16, 2:8] = 7
    labels[2:8, 12:18] = 3_000_000_000
    (tmp_path / "m").mkdir()
    tifffile.imwrite(tmp_path / "m" / "huge.tif", labels)
    result = runner.invoke(app, ["weightmap", str(tmp_path / "m"), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    expected = map_for_image(np.unique(labels, return_inverse=True)[1].reshape(labels.shape), "unet")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "o" / "huge.tif"), expected)
    sdf = runner.invoke(
        app, ["weightmap", str(tmp_path / "m"), "--out", str(tmp_path / "s"), "--kind", "sdf", "--workers", "1"]
    )
    assert sdf.exit_code == 1 and "huge.tif: array: label map with highest label 4000000000" in sdf.stderr
    _one_line(sdf.stderr)


def test_weightmap_non_integer_or_negative_masks_fail_their_file(runner, tmp_path, masks):
    np.save(masks / "prob.npy", np.linspace(0, 1, 24 * 24).reshape(24, 24))
    np.save(masks / "neg.npy", -_cells().astype(np.int16))
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 1
    assert "prob.npy: array: expected a mask or integer labels" in result.stderr
    assert "neg.npy: array: expected labels >= 0" in result.stderr
    assert len(list((tmp_path / "o").glob("*.tif"))) == 4


# --- weightmap: one bad file never costs the others --------------------------------------------


def test_weightmap_unexpected_exception_fails_only_its_file(runner, tmp_path, masks, monkeypatch):
    original = map_writer.map_for_image

    def fragile(array, *args, **kwargs):
        if array[3, 5]:  # c0..c2 have a pixel there, c3 has not
            return original(array, *args, **kwargs)
        raise RuntimeError("boom")

    monkeypatch.setattr(map_writer, "map_for_image", fragile)
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 1
    assert "c3.png: RuntimeError: boom" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["c0.tif", "c1.tif", "c2.tif"]
    debug = runner.invoke(app, ["--debug", "weightmap", str(masks), "--out", str(tmp_path / "d"), "--workers", "1"])
    assert debug.exit_code == 1 and "Traceback" in debug.stderr


def test_weightmap_dead_worker_fails_its_file_and_the_run_goes_on(runner, tmp_path, masks, monkeypatch):
    for i in range(4, 10):
        _png(masks / f"c{i}.png", _cells(i % 4))
    original = map_writer.read_image

    def killer(path, **kwargs):
        if Path(path).name == "c5.png":
            os._exit(137)  # as the out-of-memory killer would end it
        return original(path, **kwargs)

    monkeypatch.setattr(map_writer, "read_image", killer)  # forked workers inherit it
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "o"), "--workers", "2"])
    assert result.exit_code == 1
    assert "c5.png: the worker process died while processing it" in result.stderr
    _one_line(result.stderr)
    written = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert written == sorted(f"c{i}.tif" for i in range(10) if i != 5)


@pytest.mark.parametrize(
    ("code", "cause"), [(errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only file system")]
)
def test_weightmap_disk_full_or_read_only_is_one_line_exit_3(runner, tmp_path, masks, monkeypatch, code, cause):
    def full(target, array, *, overwrite):
        raise OSError(code, os.strerror(code), str(target.parent / f".{target.name}.x.partial"))

    monkeypatch.setattr(map_writer, "write_tiff", full)
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[-1] == f"segcli: error: {tmp_path / 'o' / 'c0.tif'}: cannot write ({cause})"
    _one_line(result.stderr)


# --- classweights ------------------------------------------------------------------------------


def _binary_dataset(root: Path) -> Path:
    for i in range(3):
        mask = np.zeros((10, 10), np.uint8)
        mask[2:5, 2 : 5 + i] = 255
        _png(root / "bin" / f"b{i}.png", mask)
    return root / "bin"


def test_classweights_binary_0_255_masks_count_255_as_foreground(runner, tmp_path):
    dataset = _binary_dataset(tmp_path)
    result = runner.invoke(app, ["classweights", str(dataset), "--format", "json", "--workers", "1"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["counts"] == [300 - 36, 36] and document["num_classes"] == 2
    assert document["binary_0_255"] is True and document["ignore_index"] is None
    assert "255 counted as class 1" in result.stderr and "--ignore-index" in result.stderr
    explicit = runner.invoke(app, ["classweights", str(dataset), "--ignore-index", "255", "--workers", "1"])
    assert explicit.exit_code == 1 and "--ignore-index 255" in explicit.stderr
    assert "every labelled pixel is class 0" in explicit.stderr
    # A 0/1/255 dataset keeps 255 as the ignore index.
    _png(dataset / "with_one.png", [[0, 1, 255]])
    mixed = json.loads(runner.invoke(app, ["classweights", str(dataset), "--format", "json"]).stdout)
    assert mixed["counts"] == [300 - 36 + 1, 1] and mixed["binary_0_255"] is False and mixed["ignore_index"] == 255


def _no_giant_bincount(monkeypatch):
    real = np.bincount

    def bounded(values, *args, **kwargs):
        if values.size and int(values.max()) > cw.MAX_CLASSES:
            raise AssertionError(f"bincount over a label of {int(values.max())}")
        return real(values, *args, **kwargs)

    monkeypatch.setattr(cw.np, "bincount", bounded)


def test_classweights_labels_far_beyond_k_are_one_line_per_file_errors(runner, tmp_path, monkeypatch):
    _no_giant_bincount(monkeypatch)
    _png(tmp_path / "d" / "ok.png", [[0, 1, 1, 0]])
    huge = np.zeros((4, 4), np.uint32)
    huge[0, 0] = 4_000_000_000
    tifffile.imwrite(tmp_path / "d" / "huge.tif", huge)
    np.save(tmp_path / "d" / "i64.npy", np.array([[0, 1], [2, 10**12]], np.int64))
    result = runner.invoke(app, ["classweights", str(tmp_path / "d"), "--format", "json", "--workers", "1"])
    assert result.exit_code == 1
    (huge_line,) = [line for line in result.stderr.splitlines() if "huge.tif" in line]
    assert huge_line.startswith("segcli: error: ") and "label 4000000000 outside 0..65535" in huge_line
    assert "pass --num-classes, or --ignore-index" in huge_line
    assert "i64.npy: label 1000000000000" in result.stderr
    _one_line(result.stderr)
    document = json.loads(result.stdout)
    assert document["counts"] == [2, 2] and document["n_images"] == 1 and len(document["failed"]) == 2
    given = runner.invoke(app, ["classweights", str(tmp_path / "d"), "--num-classes", "3", "--workers", "1"])
    assert given.exit_code == 1 and "huge.tif: label 4000000000 outside 0..2" in given.stderr
    assert "(--num-classes 3, --ignore-index 255)" in given.stderr


def test_classweights_inferred_k_is_capped(tmp_path, monkeypatch):
    _no_giant_bincount(monkeypatch)
    np.save(tmp_path / "big.npy", np.array([[0, cw.MAX_CLASSES]], np.int32))
    with pytest.raises(cw.LabelRangeError, match=f"big.npy: label {cw.MAX_CLASSES} outside 0..{cw.MAX_CLASSES - 1}"):
        cw.count_classes([tmp_path / "big.npy"])
    np.save(tmp_path / "top.npy", np.array([[0, cw.MAX_CLASSES - 1]], np.int32))
    assert cw.count_classes([tmp_path / "top.npy"]).num_classes == cw.MAX_CLASSES


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--beta", "nan"], "--beta"),
        (["--beta", "inf"], "--beta"),
        (["--beta", "-0.5"], "--beta"),
        (["--num-classes", "1"], "--num-classes"),
        (["--num-classes", "0"], "--num-classes"),
        (["--num-classes", "1000000000"], "--num-classes"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_classweights_bad_option_values_exit_2_naming_the_flag(runner, tmp_path, args, flag):
    dataset = _binary_dataset(tmp_path)
    result = runner.invoke(app, ["classweights", str(dataset), *args])
    assert result.exit_code == 2, result.output
    assert flag in result.stderr and len(result.stderr.splitlines()) == 1
    _one_line(result.stderr)


def test_count_classes_validates_its_arguments(tmp_path):
    dataset = _binary_dataset(tmp_path)
    paths = sorted(dataset.iterdir())
    for kwargs, argument in (({"num_classes": 1}, "num_classes"), ({"workers": 0}, "workers")):
        with pytest.raises(ValueError, match=f"^{argument}: ") as caught:
            cw.count_classes(paths, **kwargs)
        assert "--" not in str(caught.value)


def test_classweights_workers_above_files_or_cores_capped_and_said(runner, tmp_path):
    result = runner.invoke(app, ["classweights", str(_binary_dataset(tmp_path)), "--workers", "4096"])
    assert result.exit_code == 0 and "--workers 4096 capped at" in result.stderr


@pytest.mark.parametrize("conflict", ["exists", "directory", "locked"])
def test_classweights_output_checked_before_any_work(runner, tmp_path, monkeypatch, conflict):
    dataset = _binary_dataset(tmp_path)

    def no_work(*args, **kwargs):
        raise AssertionError("counting started before --output was checked")

    monkeypatch.setattr(cw, "read_image", no_work)
    output = tmp_path / "w.json"
    if conflict == "exists":
        output.write_text("{}")
    elif conflict == "directory":
        output.mkdir()
    with OutputLock(output) if conflict == "locked" else open(os.devnull):
        result = runner.invoke(app, ["classweights", str(dataset), "--output", str(output), "--workers", "1"])
    assert result.exit_code == 2, result.output
    assert {"exists": "exists", "directory": "is a directory", "locked": "another segcli run"}[conflict] in (
        result.stderr
    )
    _one_line(result.stderr)


def test_classweights_output_to_a_full_disk_is_one_line_exit_3(runner, tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    result = runner.invoke(app, ["classweights", str(_binary_dataset(tmp_path)), "--output", "/dev/full"])
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[-1] == "segcli: error: /dev/full: cannot write (no space left on device)"
    _one_line(result.stderr)


def test_classweights_unexpected_exception_fails_only_its_file(runner, tmp_path, monkeypatch):
    dataset = _binary_dataset(tmp_path)
    original = cw.read_image

    def fragile(path, **kwargs):
        if Path(path).name == "b1.png":
            raise RuntimeError("boom")
        return original(path, **kwargs)

    monkeypatch.setattr(cw, "read_image", fragile)
    result = runner.invoke(app, ["classweights", str(dataset), "--format", "json", "--workers", "1"])
    assert result.exit_code == 1
    assert "b1.png: RuntimeError: boom" in result.stderr and "1 of 3 file(s) could not be counted" in result.stderr
    _one_line(result.stderr)
    document = json.loads(result.stdout)
    assert document["counts"] == [200 - 9 - 15, 9 + 15] and document["n_images"] == 2


def test_classweights_dead_worker_fails_its_file_and_the_others_are_counted(runner, tmp_path, monkeypatch):
    dataset = _binary_dataset(tmp_path)
    for i in range(3, 8):
        _png(dataset / f"b{i}.png", np.pad(np.full((2, 2), 255), 4))
    original = cw.read_image

    def killer(path, **kwargs):
        if Path(path).name == "b4.png":
            os._exit(137)
        return original(path, **kwargs)

    monkeypatch.setattr(cw, "read_image", killer)  # forked workers inherit it
    result = runner.invoke(app, ["classweights", str(dataset), "--format", "json", "--workers", "2"])
    assert result.exit_code == 1
    assert "b4.png: the worker process died while processing it" in result.stderr
    _one_line(result.stderr)
    document = json.loads(result.stdout)
    assert document["n_images"] == 7 and document["counts"][1] == 36 + 4 * 4


def test_weightmap_short_write_stops_the_run_exit_3(runner, tmp_path, masks, monkeypatch):
    # a full disk as numpy reports it (no errno) through the real atomic write: the run stops at
    # the first map instead of failing every file one by one
    import tifffile

    calls = []

    def short(path, *args, **kwargs):
        calls.append(path)
        Path(path).write_bytes(b"II*\0")  # a few bytes, then the device is full
        raise OSError("262144 requested and 75708 written")

    monkeypatch.setattr(tifffile, "imwrite", short)
    result = runner.invoke(app, ["weightmap", str(masks), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[-1] == (
        f"segcli: error: {tmp_path / 'o' / 'c0.tif'}: cannot write "
        "(262144 requested and 75708 written: the device is probably full)"
    )
    assert len(calls) == 1
    assert list((tmp_path / "o").iterdir()) == []  # no partial file left
