"""segcli/scores/batch.py: the messages of the options a
batch refuses (as the API and the CLI report them), the image diagonal that
``--empty-distance worst`` stands in for a missing structure (worked by hand, with and without
spacing), boundary_iou's width on the torch path (against the numpy path), and a multi-class
batch mixing probability maps and label maps (each pair scored as it is alone)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segcli.engine.backend import TorchOps
from segcli.errors import InvalidOption
from segcli.inputs.interpret import BinaryPair, MulticlassPair
from segcli.scores.batch import BinaryBatch, MulticlassBatch, image_diagonal
from segcli.scores.table import compute_scores, lookup
from segcli.settings import ScoreOptions


@pytest.mark.parametrize("name", ["smooth", "dice_gamma"])
@pytest.mark.parametrize("value", [0, -1.0, float("inf")])
def test_a_parameter_that_must_be_positive_is_refused_by_name(name, value):
    with pytest.raises(InvalidOption) as raised:
        ScoreOptions(**{name: value})
    assert raised.value.option == name
    assert str(raised.value) == f"{name}: expected a finite number > 0, got {value!r}"


@pytest.mark.parametrize("policy", ["bogus", -1.0, -1, float("inf"), float("nan")])
def test_an_empty_distance_policy_out_of_range_is_refused_by_name(policy):
    with pytest.raises(InvalidOption) as raised:
        ScoreOptions(empty_distance=policy)
    assert raised.value.option == "empty_distance"
    assert str(raised.value) == f"empty_distance: expected inf, worst, nan or a number >= 0, got {policy!r}"


@pytest.mark.parametrize("policy", ["inf", "worst", "nan", 0, 0.0, 0.5, 7])
def test_empty_distance_policies_and_numbers_from_zero_are_taken(policy):
    assert ScoreOptions(empty_distance=policy).empty_distance == policy


def test_image_diagonal_in_spacing_units():
    # from the first pixel's centre to the last's: (4 - 1, 6 - 1) pixels
    assert image_diagonal((4, 6), None) == math.sqrt(3**2 + 5**2)
    # (3 x 2.0, 5 x 0.5) = (6, 2.5): 6.5
    assert image_diagonal((4, 6), (2.0, 0.5)) == 6.5


@pytest.mark.parametrize("spacing, diagonal", [(None, math.sqrt(34)), ((2.0, 0.5), 6.5)])
def test_worst_empty_distance_is_that_diagonal(spacing, diagonal):
    target = np.zeros((4, 6), bool)
    target[1:3, 2:4] = True
    pred = np.zeros_like(target)  # the structure is missed
    batch = BinaryBatch(
        [BinaryPair(prob=pred, hard=pred, target=target)], ScoreOptions(spacing=spacing, empty_distance="worst")
    )
    values = compute_scores(batch, ["hd", "assd"]).values[0]
    assert values == {"hd": pytest.approx(diagonal, rel=1e-12), "assd": pytest.approx(diagonal, rel=1e-12)}


@pytest.mark.parametrize("width", [1, 3])
def test_boundary_iou_width_is_used_on_the_torch_path(rng, width):
    from tests.conftest import smooth_mask

    pairs = []
    for _ in range(2):
        target, pred = smooth_mask(rng, (30, 34)), smooth_mask(rng, (30, 34))
        pairs.append(BinaryPair(prob=pred, hard=pred, target=target))

    def boundary_iou(options, **ops):
        return [v["boundary_iou"] for v in compute_scores(BinaryBatch(pairs, options, **ops), ["boundary_iou"]).values]

    options = ScoreOptions(boundary_iou_width=width)
    expected, default = boundary_iou(options), boundary_iou(ScoreOptions())
    got = boundary_iou(options, ops=TorchOps("cpu"))
    assert got == pytest.approx(expected, rel=1e-12) and got != pytest.approx(default, rel=1e-6)


def test_a_multiclass_batch_mixing_probabilities_and_label_maps_scores_each_pair_as_alone(rng):
    """A label map enters a mixed batch as its one-hot probabilities."""
    num_classes, shape = 3, (6, 7)
    target = rng.integers(0, num_classes, shape)
    labels = rng.integers(0, num_classes, shape)
    prob = rng.random((num_classes, *shape)).astype(np.float32)
    prob /= prob.sum(axis=0, keepdims=True)
    valid = np.ones(shape, bool)
    with_prob = MulticlassPair(labels=prob.argmax(axis=0), prob=prob, target=target, valid=valid, kind="prob")
    label_map = MulticlassPair(labels=labels, prob=None, target=target, valid=valid)
    options = ScoreOptions()

    def batch(pairs):
        return MulticlassBatch(pairs, options, num_classes=num_classes, classes=(1, 2))

    for name in ("ce", "dice_loss", "focal_loss", "lovasz_softmax"):
        score = lookup(name, multiclass=True)
        mixed = score.compute(batch([with_prob, label_map]))
        alone = [score.compute(batch([with_prob]))[0], score.compute(batch([label_map]))[0]]
        np.testing.assert_allclose(mixed, alone, rtol=1e-6, err_msg=name)
    assert len(batch([with_prob, label_map])) == 2
