"""Surface scores and distance-map losses on a torch device equal the CPU path to 1e-5 (here with
torch on the CPU, through the same code a GPU runs), empty masks and ``--empty-distance``
included; the device path of ``score_pairs`` scores them in batches and fails a pair alone."""

from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from segcli.engine.backend import TorchOps
from segcli.inputs.interpret import BinaryPair
from segcli.inputs.pairing import Pair
from segcli.run import device as device_module
from segcli.run import device_batches as device_run
from segcli.run.device import auto_device, gpu_pays, image_shape, needs_distances, recorded_device
from segcli.run.outcomes import Failure
from segcli.run.pipeline import score_pairs
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME, compute_scores
from segcli.settings import ScoreOptions, ScoreSettings
from tests.conftest import smooth_mask

SURFACE = [name for name, score in BY_NAME.items() if score.group == "surface"]
DISTANCE_LOSSES = ["distmap_bce", "boundary_loss", "boundary_bce"]
DEVICE_DISTANCE_SCORES = SURFACE + DISTANCE_LOSSES


def test_the_registry_runs_distance_scores_on_the_device():
    assert set(SURFACE) == {"hd", "hd95", "hd95_pooled", "assd", "masd", "nsd", "boundary_iou"}
    for name in DEVICE_DISTANCE_SCORES:
        assert BY_NAME[name].on_device, name
    assert not BY_NAME["unet_wce"].on_device  # its map is built by the CPU workers


def _pairs(rng, shape, *, soft: bool):
    """Smooth pairs, and every empty / full combination, hard or with probability maps."""
    empty, full = np.zeros(shape, bool), np.ones(shape, bool)
    masks = [
        (smooth_mask(rng, shape), smooth_mask(rng, shape)),
        (smooth_mask(rng, shape, fill=0.5), smooth_mask(rng, shape, fill=0.1)),
        (empty, smooth_mask(rng, shape)),
        (smooth_mask(rng, shape), empty),
        (empty, empty),
        (full, smooth_mask(rng, shape)),
        (smooth_mask(rng, shape), full),
    ]
    pairs = []
    for hard, target in masks:
        if soft:
            prob = np.clip(hard * 0.7 + rng.random(shape).astype(np.float32) * 0.3, 0, 1).astype(np.float32)
            pairs.append(BinaryPair(prob=prob, hard=prob >= 0.5, target=target))
        else:
            pairs.append(BinaryPair(prob=hard, hard=hard, target=target))
    return pairs


CASES = [
    ((41, 37), (1.0, 1.0)),
    ((33, 46), (0.5, 1.7)),
    ((7, 19, 16), (2.5, 0.8, 0.8)),
]


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("shape, spacing", CASES)
@pytest.mark.parametrize("empty_distance", ["inf", "worst", "nan", 7.5])
def test_device_distance_scores_equal_the_cpu_path(rng, shape, spacing, soft, empty_distance):
    pairs = _pairs(rng, shape, soft=soft)
    options = ScoreOptions(
        spacing=spacing,
        nsd_tolerance=1.3,
        empty_distance=empty_distance,
        distmap_tau=3.0,
        boundary_weight=4.0,
        boundary_width=2,
    )
    expected = compute_scores(BinaryBatch(pairs, options), DEVICE_DISTANCE_SCORES).values
    got = compute_scores(BinaryBatch(pairs, options, ops=TorchOps("cpu")), DEVICE_DISTANCE_SCORES).values
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        for name in DEVICE_DISTANCE_SCORES:
            if math.isnan(a[name]):
                assert math.isnan(b[name]), (i, name)
            else:
                assert b[name] == pytest.approx(a[name], rel=1e-5, abs=1e-9), (i, name)


def test_distance_scores_pinned_on_a_hand_worked_pair():
    pred = np.zeros((5, 6), bool)
    pred[1:3, 1:3] = True
    target = np.zeros((5, 6), bool)
    target[1:3, 3:5] = True
    batch = BinaryBatch([BinaryPair(prob=pred, hard=pred, target=target)], ScoreOptions(), ops=TorchOps("cpu"))
    values = compute_scores(batch, ["hd", "assd", "nsd", "boundary_iou"]).values[0]
    # every border pixel is 1 or 2 px from the other border, half of each at 1
    assert values == {"hd": 2.0, "assd": 1.5, "nsd": 0.5, "boundary_iou": 0.0}


def test_device_maps_stay_on_the_device_and_hard_losses_take_their_sums_there(rng):
    """Soft or hard predictions, the GT's maps stay tensors on the device; the four-category form
    of hard predictions sums them per category there, with the CPU's values."""
    options = ScoreOptions()
    soft = BinaryBatch(_pairs(rng, (12, 13), soft=True), options, ops=TorchOps("cpu"))
    hard_pairs = _pairs(rng, (12, 13), soft=False)
    hard = BinaryBatch(hard_pairs, options, ops=TorchOps("cpu"))
    for batch in (soft, hard):
        assert isinstance(batch.kervadec_phi, torch.Tensor) and isinstance(batch.distance_weights, torch.Tensor)
    assert isinstance(soft.boundary_weights, torch.Tensor) and isinstance(hard.boundary_weights.mask, torch.Tensor)
    reference = BinaryBatch(hard_pairs, options)
    np.testing.assert_allclose(hard.kervadec_phi.numpy(), reference.kervadec_phi, rtol=1e-6, atol=1e-6)
    for name in ("boundary_loss", "distmap_bce", "boundary_bce"):
        np.testing.assert_allclose(
            compute_scores(hard, [name]).values[0][name], compute_scores(reference, [name]).values[0][name], rtol=1e-6
        )


def test_a_bad_distmap_tau_is_named_on_the_device(rng):
    batch = BinaryBatch(_pairs(rng, (8, 8), soft=True), ScoreOptions(distmap_tau=0.0), ops=TorchOps("cpu"))
    with pytest.raises(ValueError, match="tau: expected a finite number > 0, got 0.0"):
        compute_scores(batch, ["distmap_bce"])


def _write_pairs(tmp_path, rng, shapes):
    pairs = []
    for i, shape in enumerate(shapes):
        for folder, mask in (("p", smooth_mask(rng, shape)), ("g", smooth_mask(rng, shape))):
            (tmp_path / folder).mkdir(exist_ok=True)
            if i == 1 and folder == "p":
                mask = np.zeros(shape, bool)  # a missed structure: distances inf / replaced
            Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / folder / f"{i}.png")
        pairs.append(Pair(str(i), tmp_path / "p" / f"{i}.png", tmp_path / "g" / f"{i}.png"))
    return pairs


def _same_outcomes(cpu, device, metrics):
    assert [o.name for o in device] == [o.name for o in cpu]
    for a, b in zip(cpu, device, strict=True):
        assert type(a) is type(b), a.name
        if isinstance(a, Failure):
            continue
        assert list(b.values) == list(a.values)
        for name in metrics:
            if math.isnan(a.values[name]):
                assert math.isnan(b.values[name])
            else:
                assert b.values[name] == pytest.approx(a.values[name], rel=1e-5, abs=1e-9), (a.name, name)
        assert b.meta == a.meta, a.name


def test_device_pipeline_equals_the_cpu_pipeline_with_empty_distance_replaced(tmp_path, rng):
    pairs = _write_pairs(tmp_path, rng, [(30, 40)] * 4 + [(25, 26)] * 2)
    metrics = ("dice", "hd", "hd95", "assd", "nsd", "boundary_iou", "distmap_bce", "boundary_loss", "unet_wce")
    settings = ScoreSettings(metrics=metrics, options=ScoreOptions(empty_distance="worst"))
    cpu = list(score_pairs(pairs, settings, workers=1))
    device = list(score_pairs(pairs, settings, workers=2, torch_device="cpu", batch_size=3))
    _same_outcomes(cpu, device, metrics)
    assert device[1].meta["empty_distance"] == ["hd", "hd95", "assd"]
    assert device[0].meta["empty_distance"] == []
    assert device[1].values["hd"] == pytest.approx(math.hypot(29, 39))


def test_batches_hold_at_most_the_pixel_budget(tmp_path, rng, monkeypatch):
    pairs = _write_pairs(tmp_path, rng, [(20, 20)] * 5)
    sizes = []
    real = device_run.compute_scores

    def counting(batch, metrics):
        sizes.append(len(batch))
        return real(batch, metrics)

    monkeypatch.setattr(device_run, "compute_scores", counting)
    monkeypatch.setattr(device_run, "CPU_BATCH_PIXELS", 2 * 400)
    list(score_pairs(pairs, ScoreSettings(metrics=("hd95",)), workers=1, torch_device="cpu", batch_size=16))
    assert sizes == [2, 2, 1]


def test_a_pair_that_fails_on_the_device_fails_alone(tmp_path, rng, monkeypatch):
    pairs = _write_pairs(tmp_path, rng, [(30, 40)] * 4)
    bad = pairs[2]
    marker = np.asarray(Image.open(bad.gt)) > 0
    real = device_run.compute_scores

    def failing(batch, metrics):
        if any(np.array_equal(t, marker) for t in batch.target):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(batch, metrics)

    monkeypatch.setattr(device_run, "compute_scores", failing)
    settings = ScoreSettings(metrics=("dice", "hd95"))
    outcomes = list(score_pairs(pairs, settings, workers=1, torch_device="cpu", batch_size=4))
    assert [type(o).__name__ for o in outcomes] == ["Record", "Record", "Failure", "Record"]
    assert outcomes[2].message.startswith(f"{bad.pred}: scoring on cpu failed (RuntimeError: CUDA error")
    cpu = list(score_pairs(pairs, settings, workers=1))
    for i in (0, 1, 3):
        assert outcomes[i].values == pytest.approx(cpu[i].values, rel=1e-5)


def test_object_scores_are_computed_on_the_device_path(tmp_path, rng):
    pairs = _write_pairs(tmp_path, rng, [(30, 40)] * 3)
    settings = ScoreSettings(metrics=("dice", "hd"), objects="components", object_metrics=("obj_f1",))
    cpu = list(score_pairs(pairs, settings, workers=1))
    device = list(score_pairs(pairs, settings, workers=1, torch_device="cpu"))
    _same_outcomes(cpu, device, ("dice", "hd", "obj_f1"))


def test_cli_auto_records_the_device_it_chose_and_resume_keeps_it(tmp_path, rng, monkeypatch):
    import json

    from typer.testing import CliRunner

    from segcli.cli.main import app
    from segcli.run import device as device_module

    monkeypatch.setattr(device_module, "NVIDIA_DEVICE_FILES", (tmp_path / "nvidia0",))
    _write_pairs(tmp_path, rng, [(20, 30)] * 2)
    out = tmp_path / "out.json"
    args = ["score", str(tmp_path / "p"), str(tmp_path / "g"), "--metrics", "dice,hd95", "-o", str(out)]
    result = CliRunner().invoke(app, args + ["--workers", "1"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["settings"]["device"] == "cpu"
    # an interrupted run that recorded cuda:0, resumed here without a GPU: the auto rule decides
    journal = tmp_path / "out.json.partial"
    journal.write_text(json.dumps({"segcli_journal": 1, "settings": {"device": "cuda:0"}}) + "\n")
    assert device_module.recorded_device(journal) == "cuda:0"
    assert device_module.auto_device(["hd95"], [tmp_path / "g" / "0.png"], workers=1, journal=journal) == "cpu"


def test_batch_size_is_checked():
    with pytest.raises(ValueError, match="batch_size: expected >= 1, got 0"):
        list(device_run.score_on_device([], ScoreSettings(metrics=("dice",)), "cpu", batch_size=0))


# segcli/run/device.py: the device rule (distance work, when a GPU pays, a recorded device) and the image
# shape it reads from every format, against the rules the module states.


def _fake_torch(monkeypatch, available: bool, count: int):
    cuda = types.SimpleNamespace(is_available=lambda: available, device_count=lambda: count)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))


def _gpu_machine(monkeypatch, tmp_path, *, files: bool = True):
    """A machine whose NVIDIA device file exists (or not), torch seeing 2 GPUs, any run large."""
    if files:
        (tmp_path / "nvidia0").touch()
    monkeypatch.setattr(device_module, "NVIDIA_DEVICE_FILES", (tmp_path / "nvidiactl", tmp_path / "nvidia0"))
    monkeypatch.setattr(device_module, "AUTO_CUDA_PIXELS_PER_WORKER", {2: 1, 3: 1})
    _fake_torch(monkeypatch, True, 2)


def test_a_preset_holding_a_distance_loss_is_distance_work(monkeypatch):
    from segcli.scores import table as registry

    monkeypatch.setitem(registry.PRESETS, "loss_test_distance", ((0.5, "bce"), (0.5, "boundary_loss")))
    assert needs_distances(["dice", "loss_test_distance"])
    assert not needs_distances(["dice", "loss_balanced"])


@pytest.mark.parametrize(("pairs", "pixels", "workers"), [(0, 1, 1), (1, 0, 1), (1, 1, 0), (-1, 5, 5)])
def test_gpu_pays_refuses_each_count_below_one(pairs, pixels, workers):
    with pytest.raises(ValueError, match="pairs, pixels and workers: expected >= 1"):
        gpu_pays(["hd95"], pairs=pairs, pixels=pixels, ndim=2, workers=workers)


def test_a_recorded_gpu_without_an_nvidia_file_is_the_cpu(monkeypatch, tmp_path):
    """Rule 1 holds for a resumed run too: no device file, no GPU, whatever the journal says."""
    _gpu_machine(monkeypatch, tmp_path, files=False)
    np.save(tmp_path / "gt.npy", np.zeros((8, 9, 10), np.uint8))
    journal = tmp_path / "out.csv.partial"
    for recorded in ("cuda:1", "cpu"):
        journal.write_text(json.dumps({"segcli_journal": 1, "settings": {"device": recorded}}) + "\n")
        assert auto_device(["hd95"], [tmp_path / "gt.npy"], workers=1, journal=journal) == "cpu"


def test_auto_keeps_the_cpu_for_a_gt_without_a_2d_or_3d_shape(monkeypatch, tmp_path):
    _gpu_machine(monkeypatch, tmp_path)
    good, four_d, broken = tmp_path / "gt.npy", tmp_path / "gt4.npy", tmp_path / "broken.png"
    np.save(good, np.zeros((8, 9, 10), np.uint8))
    np.save(four_d, np.zeros((2, 8, 9, 10), np.uint8))
    broken.write_bytes(b"not a png")
    assert auto_device(["hd95"], [good], workers=1) == "cuda:0"  # the same machine says cuda for a volume
    assert auto_device(["hd95"], [four_d], workers=1) == "cpu"
    assert auto_device(["hd95"], [broken], workers=1) == "cpu"


def test_recorded_device_of_a_header_without_settings(tmp_path):
    journal = tmp_path / "out.csv.partial"
    journal.write_text('{"segcli_journal": 1}\n{"name": "a"}\n')
    assert recorded_device(journal) is None
    journal.write_text('{"segcli_journal": 1, "settings": {"workers": 2}}\n')
    assert recorded_device(journal) is None


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg", ".jpeg", ".PNG", ".JPG"])
def test_image_shape_of_every_2d_format(tmp_path, suffix):
    from PIL import Image

    path = tmp_path / f"gt{suffix}"
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(
        path, format={".bmp": "BMP", ".png": "PNG"}.get(suffix.lower(), "JPEG")
    )
    assert image_shape(path) == (5, 7)


@pytest.mark.parametrize(
    ("array_shape", "expected"),
    [
        ((6, 8), (6, 8)),
        ((6, 8, 3), (6, 8)),  # RGB: channels last
        ((6, 8, 4), (6, 8)),  # RGBA
        ((6, 8, 5), (6, 8, 5)),  # more than 4 last: a volume of 6 slices
        ((4, 6, 8), (4, 6, 8)),
    ],
)
@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_image_shape_of_tiffs(tmp_path, array_shape, expected, suffix):
    import tifffile

    path = tmp_path / f"gt{suffix}"
    photometric = "rgb" if array_shape[-1] in (3, 4) and len(array_shape) == 3 else "minisblack"
    tifffile.imwrite(path, np.zeros(array_shape, np.uint8), photometric=photometric)
    assert image_shape(path) == expected


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".NII.GZ"])
def test_image_shape_of_nifti(tmp_path, suffix):
    import nibabel

    for array_shape, expected in [((5, 6, 7), (5, 6, 7)), ((5, 6, 7, 2), (5, 6, 7)), ((5, 6), (5, 6))]:
        path = tmp_path / f"gt{suffix}"
        nibabel.save(nibabel.Nifti1Image(np.zeros(array_shape, np.uint8), np.eye(4)), path)
        assert image_shape(path) == expected


@pytest.mark.parametrize("suffix", [".nrrd", ".nhdr"])
def test_image_shape_of_nrrd(tmp_path, suffix):
    import nrrd

    path = tmp_path / f"gt{suffix}"
    nrrd.write(str(path), np.zeros((5, 6, 7), np.uint8), detached_header=suffix == ".nhdr")
    assert image_shape(path) == (5, 6, 7)


# A failure on the device path while a batch is pending keeps the records in order.


def test_device_path_failure_while_a_batch_is_pending_keeps_records_in_order(tmp_path):
    """Guards the order of records on the device path: a pair that fails while earlier pairs
    wait in an unfinished batch comes after them and before the later ones, and every value
    equals the CPU path's."""
    from PIL import Image as PILImage

    from segcli.inputs.pairing import Pair
    from segcli.run.pipeline import score_pairs

    rng = np.random.default_rng(2)
    (tmp_path / "p").mkdir()
    (tmp_path / "g").mkdir()
    pairs = []
    for i in range(4):
        for folder in ("p", "g"):
            mask = smooth_mask(rng, (20, 24))
            PILImage.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / folder / f"{i}.png")
        pairs.append(Pair(str(i), tmp_path / "p" / f"{i}.png", tmp_path / "g" / f"{i}.png"))
    (tmp_path / "p" / "bad.png").write_bytes(b"not a png")
    PILImage.fromarray(np.zeros((20, 24), np.uint8)).save(tmp_path / "g" / "bad.png")
    pairs.insert(1, Pair("bad", tmp_path / "p" / "bad.png", tmp_path / "g" / "bad.png"))
    settings = ScoreSettings(metrics=("dice", "hd", "bce"))
    cpu = list(score_pairs(pairs, settings, workers=1))
    device = list(score_pairs(pairs, settings, workers=1, torch_device="cpu", batch_size=3))
    assert [o.name for o in device] == ["0", "bad", "1", "2", "3"] == [o.name for o in cpu]
    assert type(device[1]).__name__ == "Failure" and "bad.png" in device[1].message
    for a, b in zip(cpu, device, strict=True):
        if hasattr(a, "values"):
            for name in settings.metrics:
                assert b.values[name] == pytest.approx(a.values[name], rel=1e-5), name
