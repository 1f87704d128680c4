"""Medical volumes (NIfTI, NRRD, MetaImage): distances in the header's millimetres against MONAI and
MedPy reading the same file as they do (nibabel's x, y, z arrays and zooms), the same records
from every format, weight maps written with the input's geometry, the geometry check, --labels,
and each bad input failing its own pair in one line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.inputs.images import read_image
from tests.conftest import smooth_mask

SURFACE = ("hd", "hd95", "hd95_pooled", "assd", "masd", "nsd")
ZOOMS = (0.7, 0.9, 2.5)  # file axes i, j, k: anisotropic, the array's axes are k, j, i
TOL = 1e-4


@pytest.fixture
def runner():
    return CliRunner()


def _affine(zooms=ZOOMS, origin=(-30.0, 12.5, -80.0), degrees=25.0) -> np.ndarray:
    """An oblique affine: rotated about z, anisotropic, shifted."""
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(zooms)
    affine[:3, 3] = origin
    return affine


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """``data`` in the file's (i, j, k) order, as nibabel holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data), _affine() if affine is None else affine), path)
    return path


@pytest.fixture
def volumes(rng):
    """Two prediction / GT mask pairs in file order (i, j, k) = (30, 26, 12)."""
    shape = (30, 26, 12)
    pairs = []
    for fill in (0.2, 0.4):
        pred = smooth_mask(rng, shape, fill=fill)
        gt = smooth_mask(rng, shape, fill=0.3)
        gt[0, 0, 0] = True  # a mask touching the volume's edge has a border there
        pairs.append((pred.astype(np.uint8), gt.astype(np.uint8)))
    return pairs


def _write_pairs(root: Path, pairs, suffix=".nii.gz") -> tuple[Path, Path]:
    for i, (pred, gt) in enumerate(pairs):
        _nifti(root / "pred" / f"case{i}{suffix}", pred)
        _nifti(root / "gt" / f"case{i}{suffix}", gt)
    return root / "pred", root / "gt"


def _records(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["images"]


def _score(runner, pred: Path, gt: Path, *extra: str):
    return runner.invoke(
        app, ["score", str(pred), str(gt), "--format", "json", "--workers", "1", "--metrics", ",".join(SURFACE), *extra]
    )


def test_surface_scores_with_header_spacing_equal_monai_and_medpy(runner, tmp_path, volumes):
    import torch
    from medpy.metric import binary
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

    records = _records(_score(runner, *_write_pairs(tmp_path, volumes)))
    assert len(records) == len(volumes)
    for record in records:
        # The peers read the files as MONAI's LoadImage and nnU-Net's nibabel reader do: x, y, z.
        pred = np.asanyarray(nib.load(record["pred_path"]).dataobj).astype(bool)
        gt_image = nib.load(record["gt_path"])
        gt = np.asanyarray(gt_image.dataobj).astype(bool)
        zooms = tuple(float(z) for z in gt_image.header.get_zooms())
        assert record["spacing"] == pytest.approx(zooms[::-1], rel=1e-7) and record["spacing_source"] == "gt"

        p, g = (torch.from_numpy(m[None, None].astype(np.float32)) for m in (pred, gt))

        def monai(fn, p=p, g=g, zooms=zooms, **kwargs):
            return float(fn(p, g, include_background=True, spacing=zooms, **kwargs))

        assert record["hd"] == pytest.approx(monai(compute_hausdorff_distance), rel=TOL)
        assert record["hd95"] == pytest.approx(monai(compute_hausdorff_distance, percentile=95), rel=TOL)
        assert record["assd"] == pytest.approx(monai(compute_average_surface_distance, symmetric=True), rel=TOL)
        assert record["nsd"] == pytest.approx(monai(compute_surface_dice, class_thresholds=[1.0]), rel=TOL)
        assert record["hd"] == pytest.approx(binary.hd(pred, gt, voxelspacing=zooms), rel=TOL)
        assert record["hd95_pooled"] == pytest.approx(binary.hd95(pred, gt, voxelspacing=zooms), rel=TOL)
        masd = 0.5 * (binary.asd(pred, gt, voxelspacing=zooms) + binary.asd(gt, pred, voxelspacing=zooms))
        assert record["masd"] == pytest.approx(masd, rel=TOL)
        # The spacing matters here: with 1 per axis every distance would differ.
        assert record["hd"] != pytest.approx(binary.hd(pred, gt), rel=TOL)


def _geometry_lps(affine: np.ndarray):
    """SimpleITK's (x, y, z) spacing, LPS origin and direction of a RAS affine."""
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    return spacing, lps[:, 3], lps[:, :3] / spacing


def _write_mha(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    import SimpleITK as sitk

    spacing, origin, direction = _geometry_lps(affine)
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.T))  # SimpleITK's arrays are z, y, x
    image.SetSpacing(tuple(float(s) for s in ZOOMS))
    image.SetOrigin(tuple(origin))
    image.SetDirection(tuple(direction.ravel()))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True)


def _write_nrrd(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    import nrrd

    _, origin, direction = _geometry_lps(affine)
    header = {
        "space": "left-posterior-superior",
        "space directions": (direction * np.asarray(ZOOMS)).T,  # one row per file axis
        "space origin": origin,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nrrd.write(str(path), np.asfortranarray(data), header, index_order="F")


def test_mha_and_nrrd_copies_give_identical_records(runner, tmp_path, volumes):
    affine = _affine()
    roots = {}
    for fmt, writer in (("mha", _write_mha), ("nrrd", _write_nrrd)):
        for i, (pred, gt) in enumerate(volumes):
            writer(tmp_path / fmt / "pred" / f"case{i}.{fmt}", pred, affine)
            writer(tmp_path / fmt / "gt" / f"case{i}.{fmt}", gt, affine)
        roots[fmt] = _records(_score(runner, tmp_path / fmt / "pred", tmp_path / fmt / "gt"))
    nifti = _records(_score(runner, *_write_pairs(tmp_path / "nii", volumes)))

    def without_paths(records):
        return [{k: v for k, v in r.items() if not k.endswith("_path")} for r in records]

    assert without_paths(roots["mha"]) == without_paths(roots["nrrd"])
    assert roots["mha"][0]["spacing"] == list(ZOOMS[::-1])
    for mha, nii in zip(roots["mha"], nifti, strict=True):  # NIfTI's float32 pixdim: equal to 1e-7
        assert {k: mha[k] for k in SURFACE} == pytest.approx({k: nii[k] for k in SURFACE}, rel=1e-6)
    # Each format's affine is converted to RAS: the three agree, so mixed pairs pass the check.
    images = [read_image(tmp_path / f / "gt" / f"case0.{f}") for f in ("mha", "nrrd")]
    images.append(read_image(tmp_path / "nii" / "gt" / "case0.nii.gz"))
    for image in images:
        assert image.array.shape == (12, 26, 30)
        assert np.allclose(image.affine, images[2].affine, atol=1e-5)
    mixed = _score(runner, tmp_path / "mha" / "pred", tmp_path / "nii" / "gt")
    assert mixed.exit_code == 0, mixed.output


def test_nifti_weight_map_keeps_the_affine_and_equals_the_tiff_path(runner, tmp_path, rng):
    labels = np.zeros((30, 26, 12), np.uint16)  # i, j, k
    labels[smooth_mask(rng, labels.shape, fill=0.2)] = 1
    labels[smooth_mask(rng, labels.shape, fill=0.1)] = 2
    affine = _affine()
    source = _nifti(tmp_path / "masks" / "vol.nii.gz", labels, affine)
    spacing = tuple(float(z) for z in ZOOMS[::-1])
    tifffile.imwrite(
        tmp_path / "masks" / "vol_tiff.tif",
        labels.T,
        imagej=True,
        resolution=(1 / spacing[2], 1 / spacing[1]),
        metadata={"spacing": spacing[0], "unit": "mm"},
    )
    result = runner.invoke(app, ["weightmap", str(tmp_path / "masks"), "--out", str(tmp_path / "maps"), "--workers=1"])
    assert result.exit_code == 0, result.output
    written = nib.load(tmp_path / "maps" / "vol.nii.gz")
    assert np.array_equal(written.affine, nib.load(source).affine)
    assert written.get_data_dtype() == np.float32 and written.shape == labels.shape
    tiff_map = read_image(tmp_path / "maps" / "vol_tiff.tif")
    assert tiff_map.spacing == pytest.approx(spacing, rel=1e-6)  # the TIFF map keeps the spacing tags
    assert np.allclose(np.asanyarray(written.dataobj).T, tiff_map.array, rtol=1e-6, atol=1e-6)
    assert not list((tmp_path / "maps").glob(".*"))  # no temporary file left


def test_nrrd_and_mha_maps_keep_their_format_and_geometry(runner, tmp_path, volumes):
    _, gt = volumes[0]
    _write_mha(tmp_path / "masks" / "a.mha", gt, _affine())
    _write_nrrd(tmp_path / "masks" / "b.nrrd", gt, _affine())
    result = runner.invoke(app, ["weightmap", str(tmp_path / "masks"), "--out", str(tmp_path / "maps"), "--workers=1"])
    assert result.exit_code == 0, result.output
    for name in ("a.mha", "b.nrrd"):
        source, written = read_image(tmp_path / "masks" / name), read_image(tmp_path / "maps" / name)
        assert written.array.dtype == np.float32 and written.array.shape == source.array.shape
        assert written.spacing == pytest.approx(source.spacing) and np.allclose(written.affine, source.affine)


def _one_line(stderr: str, path: Path, needle: str) -> None:
    lines = [line for line in stderr.splitlines() if str(path) in line]
    assert len(lines) == 1 and needle in lines[0], stderr


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ("origin", "origin -29.5,12.5,-80 vs -30,12.5,-80"),
        ("direction", "direction "),
        ("spacing", "spacing 2.5,0.9,0.8 vs 2.5,0.9,0.7"),
        ("shape", "shape 12,26,31 vs 12,26,30"),
    ],
)
def test_geometry_that_differs_fails_its_pair_naming_what_differs(runner, tmp_path, volumes, change, needle):
    pred_root, gt_root = _write_pairs(tmp_path, volumes)
    pred = np.asanyarray(nib.load(pred_root / "case0.nii.gz").dataobj)
    affine = _affine()
    if change == "origin":
        affine[0, 3] += 0.5
    elif change == "direction":
        affine = _affine(degrees=30.0)
    elif change == "spacing":
        affine = _affine(zooms=(0.8, 0.9, 2.5))
    else:
        pred = np.concatenate([pred, pred[:1]], axis=0)
    _nifti(pred_root / "case0.nii.gz", pred, affine)
    result = _score(runner, pred_root, gt_root)
    assert result.exit_code == 1
    _one_line(result.stderr, pred_root / "case0.nii.gz", needle)
    assert [r["name"] for r in json.loads(result.stdout)["images"]] == ["case1"]  # the other pair is scored
    forced = _score(runner, pred_root, gt_root, "--ignore-geometry")
    if change == "shape":  # nothing can score arrays of different shapes
        assert forced.exit_code == 1
        return
    records = _records(forced)
    assert records[0]["spacing"] == pytest.approx(ZOOMS[::-1], rel=1e-7)  # the GT's


def test_spacing_option_overrides_the_header(runner, tmp_path, volumes):
    records = _records(_score(runner, *_write_pairs(tmp_path, volumes), "--spacing", "1"))
    assert records[0]["spacing"] == [1.0, 1.0, 1.0] and records[0]["spacing_source"] == "option"


def _bad_input(runner, tmp_path, volumes, write_bad) -> None:
    pred_root, gt_root = _write_pairs(tmp_path, volumes)
    bad = pred_root / "case0.nii.gz"
    needle = write_bad(bad)
    result = _score(runner, pred_root, gt_root)
    assert result.exit_code == 1, result.output
    _one_line(result.stderr, bad, needle)
    assert "Traceback" not in result.output
    assert [r["name"] for r in json.loads(result.stdout)["images"]] == ["case1"]


def test_4d_nifti_is_an_error_unless_its_fourth_axis_has_size_one(runner, tmp_path, volumes):
    pred, _ = volumes[0]

    def four_d(path):
        _nifti(path, np.stack([pred, pred], axis=-1))
        return "4-D NIfTI of shape 30x26x12x2; expected a 3-D volume"

    _bad_input(runner, tmp_path / "two", volumes, four_d)
    pred_root, gt_root = _write_pairs(tmp_path / "one", volumes)
    _nifti(pred_root / "case0.nii.gz", pred[..., None])
    records = _records(_score(runner, pred_root, gt_root))
    assert len(records) == 2 and records[0]["spacing"] == pytest.approx(ZOOMS[::-1], rel=1e-7)


def test_nan_in_pixdim_is_an_error_naming_the_file(runner, tmp_path, volumes):
    pred, _ = volumes[0]

    def nan_pixdim(path):
        image = nib.Nifti1Image(pred, _affine())
        image.header["pixdim"][2] = np.nan
        nib.save(image, path)
        return "bad spacing in NIfTI pixdim: 0.7,nan,2.5"

    _bad_input(runner, tmp_path, volumes, nan_pixdim)


def test_zero_pixdim_is_an_error_not_nibabels_silent_one(runner, tmp_path, volumes):
    pred, _ = volumes[0]

    def zero_pixdim(path):
        image = nib.Nifti1Image(pred, _affine())
        image.header["pixdim"][3] = 0  # nibabel's load would make it 1 and go on
        nib.save(image, path)
        return "bad spacing in NIfTI pixdim: 0.7,0.9,0"

    _bad_input(runner, tmp_path, volumes, zero_pixdim)


def test_negative_pixdim_is_read_as_its_absolute_value_and_said(tmp_path, volumes):
    image = nib.Nifti1Image(volumes[0][0], _affine())
    image.header["pixdim"][1] = -0.7
    nib.save(image, tmp_path / "neg.nii")
    with pytest.warns(UserWarning, match=r"neg\.nii: negative NIfTI pixdim -0\.7,0\.9,2\.5"):
        assert read_image(tmp_path / "neg.nii").spacing == (2.5, 0.9, 0.7)


def test_unreadable_metaimage_is_one_line_without_cxx_location(tmp_path):
    from segcli.errors import ReadError

    (tmp_path / "bad.mha").write_text("ObjectType = Image\nNDims = 3\n")
    with pytest.raises(ReadError) as caught:
        read_image(tmp_path / "bad.mha")
    bad = tmp_path / "bad.mha"
    assert str(caught.value) == f"{bad}: cannot read (File cannot be read: {bad} for reading)"


def test_truncated_compressed_file_is_one_line_naming_it(runner, tmp_path, volumes):
    def truncated(path):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return "cannot read"

    _bad_input(runner, tmp_path, volumes, truncated)


def test_not_gzip_at_all_is_one_line_naming_it(runner, tmp_path, volumes):
    def garbage(path):
        path.write_bytes(b"not a NIfTI file" * 100)
        return "cannot read"

    _bad_input(runner, tmp_path, volumes, garbage)


def test_metaimage_without_simpleitk_names_the_extra(tmp_path, volumes, monkeypatch):
    from segcli.errors import ReadError
    from segcli.inputs import volumes as volume_io

    _write_mha(tmp_path / "a.mha", volumes[0][1], _affine())
    monkeypatch.setattr(volume_io, "_sitk", lambda: None)
    with pytest.raises(ReadError, match=r"a\.mha: reading MetaImage .* pip install 'segcli\[medical\]'"):
        read_image(tmp_path / "a.mha")


def test_nii_gz_names_drop_both_suffixes_and_nnunet_suffix(runner, tmp_path, volumes):
    pred, gt = volumes[0]
    _nifti(tmp_path / "pred" / "liver_007.nii.gz", pred)
    _nifti(tmp_path / "gt" / "liver_007_0000.nii.gz", gt)
    records = _records(_score(runner, tmp_path / "pred", tmp_path / "gt", "--gt-suffix", "_0000"))
    assert [r["name"] for r in records] == ["liver_007"]


def _label_volumes(rng):
    shape = (30, 26, 12)
    gt = np.zeros(shape, np.uint8)
    gt[smooth_mask(rng, shape, fill=0.4)] = 1
    gt[smooth_mask(rng, shape, fill=0.15)] = 2
    gt[smooth_mask(rng, shape, fill=0.05)] = 3
    pred = np.roll(gt, 1, axis=0)
    pred[smooth_mask(rng, shape, fill=0.05)] = 0
    return pred, gt


def test_labels_from_dataset_json_name_and_choose_the_classes_regions_included(runner, tmp_path, rng):
    pred, gt = _label_volumes(rng)
    _nifti(tmp_path / "pred" / "a.nii.gz", pred)
    _nifti(tmp_path / "gt" / "a.nii.gz", gt)
    dataset = tmp_path / "dataset.json"
    labels = {"background": 0, "liver": 1, "tumor": [2, 3], "core": 3}
    dataset.write_text(json.dumps({"name": "x", "labels": labels}))
    result = runner.invoke(
        app,
        ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--labels", str(dataset), "--format", "json",
         "--workers", "1", "--metrics", "dice,hd95"],
    )  # fmt: skip
    record = _records(result)[0]
    assert [k for k in record if k.startswith("dice")] == ["dice", "dice_liver", "dice_tumor", "dice_core"]
    for name, members in (("liver", [1]), ("tumor", [2, 3]), ("core", [3])):
        p, g = np.isin(pred, members), np.isin(gt, members)
        assert record[f"dice_{name}"] == pytest.approx(2 * (p & g).sum() / (p.sum() + g.sum()), rel=1e-12)
        _nifti(tmp_path / name / "pred" / "a.nii.gz", p.astype(np.uint8))
        _nifti(tmp_path / name / "gt" / "a.nii.gz", g.astype(np.uint8))
        binary = _records(
            runner.invoke(
                app,
                [
                    "score",
                    str(tmp_path / name / "pred"),
                    str(tmp_path / name / "gt"),
                    "--format",
                    "json",
                    "--workers",
                    "1",
                    "--metrics",
                    "dice,hd95",
                ],
            )  # fmt: skip
        )[0]
        assert record[f"hd95_{name}"] == pytest.approx(binary["hd95"], rel=1e-12)
    assert record["dice"] == pytest.approx(np.mean([record[f"dice_{n}"] for n in ("liver", "tumor", "core")]))


def test_labels_errors_are_usage_errors(runner, tmp_path, rng):
    pred, gt = _label_volumes(rng)
    _nifti(tmp_path / "pred" / "a.nii.gz", pred)
    _nifti(tmp_path / "gt" / "a.nii.gz", gt)
    cases = {
        "nolabels.json": ({"name": "x"}, [], 'expected a "labels" object'),
        "bad.json": ({"labels": {"background": 0, "liver": "one"}}, [], "label 'liver' is 'one'"),
        "regions.json": ({"labels": {"background": 0, "tumor": [1, 2]}}, ["--metrics", "dice_loss"], "regions"),
        "count.json": ({"labels": {"background": 0, "a": 1, "b": 2, "c": 3}}, ["--num-classes", "3"], "0..3"),
        # named as --labels' own label, not as a --num-classes that was never given
        "huge.json": ({"labels": {"background": 0, "a": 70000}}, [], "label 'a' is 70000; labels go up to 65535"),
    }
    for name, (document, extra, needle) in cases.items():
        (tmp_path / name).write_text(json.dumps(document))
        result = runner.invoke(
            app, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--labels", str(tmp_path / name), *extra]
        )
        assert result.exit_code == 2, (name, result.output)
        assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)


def test_labels_ignore_label_is_the_ignore_index(runner, tmp_path, rng):
    pred, gt = _label_volumes(rng)
    gt[:5] = 4  # unlabelled: nnU-Net's "ignore"
    _nifti(tmp_path / "pred" / "a.nii.gz", pred)
    _nifti(tmp_path / "gt" / "a.nii.gz", gt)
    dataset = tmp_path / "dataset.json"
    dataset.write_text(json.dumps({"labels": {"background": 0, "a": 1, "b": 2, "c": 3, "ignore": 4}}))
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--format", "json", "--workers", "1"]
    record = _records(runner.invoke(app, [*args, "--labels", str(dataset), "--metrics", "dice"]))[0]
    valid = gt != 4
    p, g = (pred == 1) & valid, (gt == 1) & valid
    assert record["dice_a"] == pytest.approx(2 * (p & g).sum() / (p.sum() + g.sum()), rel=1e-12)


def test_classweights_reads_nifti(runner, tmp_path, rng):
    _, gt = _label_volumes(rng)
    _nifti(tmp_path / "labels" / "a.nii.gz", gt)
    result = runner.invoke(app, ["classweights", str(tmp_path / "labels"), "--format", "json", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"] == np.bincount(gt.ravel()).tolist()


def test_sample_nifti_pair_is_anisotropic_and_oblique():
    root = Path(__file__).resolve().parents[2] / "sample_data" / "nifti"
    image = read_image(root / "gt" / "patient01.nii.gz")
    assert image.spacing == (3.0, 0.75, 0.8)
    assert not np.allclose(image.affine[:3, :3], np.diag(np.diag(image.affine[:3, :3])))
    assert gzip.decompress((root / "gt" / "patient01.nii.gz").read_bytes())[:4] == (348).to_bytes(4, "little")
