"""weightmap --device: the sdf, boundary and distance maps from the torch transforms equal the
CPU maps (torch on the CPU here; the same code on a GPU)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from typer.testing import CliRunner

from segcli.cli.main import app
from segcli.engine.distance import DegenerateMaskWarning
from segcli.engine.maps import map_for_image
from segcli.weightmaps import MapJob, MapSettings, run_map_jobs

pytest.importorskip("torch")


def _images(shape, seed):
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 2)
    mask = field > 0.1
    labels = (field > 0).astype(np.uint8) + (ndimage.gaussian_filter(rng.standard_normal(shape), 2) > 0.3)
    return mask, labels


@pytest.mark.parametrize(
    ("shape", "spacing"), [((48, 61), None), ((48, 61), (0.7, 1.3)), ((10, 24, 22), (2.0, 0.8, 0.9))]
)
@pytest.mark.parametrize("kind", ["sdf", "boundary", "distance"])
def test_device_maps_equal_the_cpu_maps(shape, spacing, kind):
    mask, labels = _images(shape, len(shape) + len(kind))
    for image in (mask, labels) if kind == "sdf" else (mask,):
        expected = map_for_image(image, kind, spacing=spacing)
        found = map_for_image(image, kind, spacing=spacing, device="cpu")
        assert found.dtype == np.float32 and found.shape == expected.shape
        np.testing.assert_allclose(found, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fill", [False, True])
def test_an_empty_or_full_mask_gives_the_cpu_convention(fill):
    image = np.full((20, 30), fill)
    for kind, constant in (("sdf", 0.0), ("distance", 1.0)):
        with warnings.catch_warnings(record=True) as cpu_warnings:
            warnings.simplefilter("always")
            expected = map_for_image(image, kind)
        with warnings.catch_warnings(record=True) as device_warnings:
            warnings.simplefilter("always")
            found = map_for_image(image, kind, device="cpu")
        assert np.all(found == constant) and np.array_equal(found, expected)
        said = [w.category for w in device_warnings]
        assert said == [w.category for w in cpu_warnings]
        assert (DegenerateMaskWarning in said) == (kind == "sdf")


def test_map_jobs_on_a_device_write_the_cpu_maps(tmp_path):
    mask, _ = _images((40, 50), 3)
    tifffile.imwrite(tmp_path / "a.tif", mask.astype(np.uint8))
    for device in (None, "cpu"):
        out = tmp_path / f"out-{device}"
        jobs = MapJob.for_inputs(tmp_path / "a.tif", out)
        results = list(run_map_jobs(jobs, MapSettings(kind="sdf", device=device), workers=2))
        assert [r.error for r in results] == [None]
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "out-cpu" / "a.tif"), tifffile.imread(tmp_path / "out-None" / "a.tif")
    )


def test_cuda_asked_for_without_cuda_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    tifffile.imwrite(tmp_path / "a.tif", np.eye(8, dtype=np.uint8))
    result = CliRunner().invoke(
        app, ["weightmap", str(tmp_path / "a.tif"), "--out", str(tmp_path / "w"), "--kind", "sdf", "--device", "cuda"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["segcli: error: --device cuda: CUDA is not available on this machine"]
    assert not (tmp_path / "w").exists()


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")
def test_cuda_maps_equal_the_cpu_maps(tmp_path):
    mask, labels = _images((64, 70), 5)
    tifffile.imwrite(tmp_path / "mask.tif", mask.astype(np.uint8))
    for kind in ("sdf", "boundary", "distance"):
        for device in ("cpu", "cuda"):
            result = CliRunner().invoke(
                app,
                [
                    "weightmap",
                    str(tmp_path / "mask.tif"),
                    "--out",
                    str(tmp_path / f"{kind}-{device}"),
                    "--kind",
                    kind,
                    "--device",
                    device,
                ],
            )
            assert result.exit_code == 0, result.output
        np.testing.assert_allclose(
            tifffile.imread(tmp_path / f"{kind}-cuda" / "mask.tif"),
            tifffile.imread(tmp_path / f"{kind}-cpu" / "mask.tif"),
            rtol=1e-6,
            atol=1e-7,
        )
