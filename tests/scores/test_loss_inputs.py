"""The weighted form of the loss inputs (an element standing for several pixels) equals the
same pixels written out one by one: the form hard predictions are scored in."""

from __future__ import annotations

import numpy as np
import pytest

from segcli.engine.backend import TwoLevelMap
from segcli.engine.stats import confusion_counts
from segcli.scores import binary_losses as losses
from segcli.scores.loss_inputs import LossInputs

PLAIN = (
    "bce",
    "balanced_bce",
    "wbce",
    "nearest_cell_bce",
    "focal_loss",
    "dice_loss",
    "squared_dice_loss",
    "tversky_loss",
    "focal_tversky_loss",
    "lovasz_hinge",
    "combo_loss",
)


@pytest.mark.parametrize("seed", range(5))
def test_weighted_elements_equal_the_pixels_written_out(seed):
    rng = np.random.default_rng(seed)
    prob = rng.random((2, 7)).astype(np.float32)
    target = rng.random((2, 7)) < 0.4
    target[:, 0], target[:, 1] = True, False  # both classes present
    weights = rng.integers(0, 5, (2, 7))
    weights[:, :2] = 1
    compact = LossInputs(prob, target, weights=weights)
    for name in PLAIN:
        expected = [
            getattr(losses, name)(
                LossInputs(np.repeat(prob[i], weights[i])[None], np.repeat(target[i], weights[i])[None])
            )[0]
            for i in range(2)
        ]
        np.testing.assert_allclose(getattr(losses, name)(compact), expected, rtol=1e-6, err_msg=name)


def test_hard_masks_with_maps_equal_the_pixel_form():
    rng = np.random.default_rng(7)
    pred, target = rng.random((3, 9, 11)) < 0.5, rng.random((3, 9, 11)) < 0.3
    weight_map = rng.random(pred.shape).astype(np.float32) * 4
    band = TwoLevelMap(rng.random(pred.shape) < 0.2, 5.0, 1.0)
    compact = LossInputs.of_hard_masks(pred, target, confusion_counts(pred, target))
    pixels = LossInputs(pred.astype(np.float32), target)
    for weights in (weight_map, band):
        np.testing.assert_allclose(
            losses.weighted_bce(compact, weights), losses.weighted_bce(pixels, weights), rtol=1e-6
        )
    np.testing.assert_allclose(
        losses.boundary_loss(compact, weight_map), losses.boundary_loss(pixels, weight_map), rtol=1e-6
    )
    np.testing.assert_allclose(losses.lovasz_hinge(compact), losses.lovasz_hinge(pixels), rtol=1e-6)


def test_weights_are_checked():
    prob, target = np.array([[0.5, 0.2]]), np.array([[True, False]])
    with pytest.raises(ValueError, match="weights"):
        LossInputs(prob, target, weights=np.array([[1, -1]]))
    with pytest.raises(ValueError, match="weights"):
        LossInputs(prob, target, weights=np.array([1, 1]))
