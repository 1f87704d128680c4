"""Property-based tests (hypothesis): every score over random shapes, dtypes and masks is finite
where defined, in range, and symmetric where its definition is; file readers never crash with
anything but a ReadError that names the file."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segcli.errors import ReadError
from segcli.inputs.images import read_image
from segcli.inputs.interpret import BinaryPair
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME
from segcli.settings import ScoreOptions

shapes_2d = st.tuples(st.integers(1, 12), st.integers(1, 12))
shapes_3d = st.tuples(st.integers(1, 5), st.integers(1, 8), st.integers(1, 8))


@st.composite
def mask_pairs(draw):
    shape = draw(st.one_of(shapes_2d, shapes_3d))
    pred = draw(arrays(np.bool_, shape))
    target = draw(arrays(np.bool_, shape))
    prob = draw(arrays(np.float32, shape, elements=st.floats(0, 1, width=32)))
    spacing = draw(st.one_of(st.none(), st.tuples(*[st.floats(0.25, 4.0)] * len(shape))))
    return pred, target, prob, spacing


BOUNDED = {
    "dice",
    "iou",
    "precision",
    "recall",
    "specificity",
    "accuracy",
    "volume_similarity",
    "nsd",
    "boundary_iou",
    "dice_loss",
    "tversky_loss",
    "focal_tversky_loss",
}
SYMMETRIC = {
    "dice",
    "iou",
    "accuracy",
    "mcc",
    "volume_similarity",
    "hd",
    "hd95",
    "hd95_pooled",
    "assd",
    "masd",
    "nsd",
    "boundary_iou",
}
LOSSES = {"dice_loss", "tversky_loss", "focal_tversky_loss"}
SURFACE = {"hd", "hd95", "hd95_pooled", "assd", "masd"}
RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _all_scores(pred, target, prob, spacing):
    batch = BinaryBatch([BinaryPair(prob=prob, hard=pred, target=target)], ScoreOptions(spacing=spacing))
    return {name: float(score.compute(batch)[0]) for name, score in BY_NAME.items()}


@RELAXED
@given(mask_pairs())
def test_every_score_defined_and_in_range(case):
    pred, target, prob, spacing = case
    values = _all_scores(pred, target, prob, spacing)
    one_empty = pred.any() != target.any()
    for name, value in values.items():
        if name in SURFACE and one_empty:
            assert value == np.inf, name
            continue
        assert np.isfinite(value), (name, value)
        if name in BOUNDED:
            assert -1e-9 <= value <= 1 + 1e-9, (name, value)
        elif name == "mcc":
            assert -1 - 1e-9 <= value <= 1 + 1e-9
        elif name != "boundary_loss":
            assert value >= -1e-9, (name, value)


@RELAXED
@given(mask_pairs())
def test_symmetric_scores_are_symmetric(case):
    pred, target, _, spacing = case
    forward = _all_scores(pred, target, pred.astype(np.float32), spacing)
    backward = _all_scores(target, pred, target.astype(np.float32), spacing)
    for name in SYMMETRIC:
        assert forward[name] == pytest.approx(backward[name], rel=1e-9, abs=1e-12), name


@RELAXED
@given(mask_pairs())
def test_identical_masks_score_perfectly(case):
    pred, _, _, spacing = case
    values = _all_scores(pred, pred, pred.astype(np.float32), spacing)
    for name in (BOUNDED - LOSSES) | {"mcc"}:
        assert values[name] == 1.0, name
    for name in SURFACE:
        assert values[name] == 0.0, name


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".png", ".tif", ".npy", ".npz", ".bmp", ".jpg"]))
def test_readers_on_garbage_raise_read_error_naming_the_file(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        read_image(path)
    except ReadError as exc:
        assert str(path) in str(exc)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(share=st.floats(0.0, 0.95), suffix=st.sampled_from([".png", ".tif", ".npy"]))
def test_truncated_files_raise_read_error(tmp_path, share, suffix):
    import tifffile
    from PIL import Image

    # Incompressible pixels, so any cut before the trailer loses pixel data.
    image = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    path = tmp_path / f"whole{suffix}"
    if suffix == ".png":
        Image.fromarray(image).save(path)
    elif suffix == ".tif":
        tifffile.imwrite(path, image)
    else:
        np.save(path, image)
    data = path.read_bytes()
    path.write_bytes(data[: int(share * len(data))])
    with pytest.raises(ReadError, match="whole"):
        read_image(path)


@RELAXED
@given(mask_pairs())
def test_mask_predictions_score_losses_as_their_float_copies(case):
    """A mask prediction takes the four-category path of the losses, its 0.0/1.0 float copy the
    per-pixel path (checked against torch, MONAI and the reference codes in tests/scores/test_binary_losses.py):
    equal on every shape, spacing and empty category."""
    pred, target, _, spacing = case
    options = ScoreOptions(spacing=spacing)
    as_mask = BinaryBatch([BinaryPair(prob=pred, hard=pred, target=target)], options)
    as_floats = BinaryBatch([BinaryPair(prob=pred.astype(np.float32), hard=pred, target=target)], options)
    for name, score in BY_NAME.items():
        if score.group == "losses":
            got, expected = score.compute(as_mask)[0], score.compute(as_floats)[0]
            assert np.isfinite(got), name
            assert got == pytest.approx(expected, rel=1e-4, abs=1e-9), name
