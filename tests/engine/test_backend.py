"""The torch backend (GPU batches) gives the numpy backend's values: every count, loss and surface
score, on a batch of mixed probability maps and hard masks. Run with torch on the CPU here; the CUDA test
runs the same comparison on a GPU and skips cleanly without one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segcli.engine.backend import NUMPY, NumpyOps, TorchOps, TwoLevelMap
from segcli.inputs.interpret import BinaryPair
from segcli.inputs.pairing import Pair
from segcli.run.pipeline import score_pairs
from segcli.scores.batch import BinaryBatch
from segcli.scores.table import BY_NAME
from segcli.settings import ScoreOptions, ScoreSettings
from tests.conftest import smooth_mask


def _batch_pairs(rng, shape, n=4):
    pairs = []
    for i in range(n):
        target = smooth_mask(rng, shape)
        if i % 2:
            prob = rng.random(shape).astype(np.float32) * 0.6 + 0.4 * target
            pairs.append(BinaryPair(prob=prob, hard=prob >= 0.5, target=target))
        else:
            hard = smooth_mask(rng, shape)
            pairs.append(BinaryPair(prob=hard, hard=hard, target=target))
    empty = np.zeros(shape, bool)
    pairs.append(BinaryPair(prob=empty, hard=empty, target=empty))
    return pairs


def _compare(rng, device):
    for shape in ((33, 47), (6, 20, 18)):
        pairs = _batch_pairs(rng, shape)
        options = ScoreOptions(spacing=(1.0,) * len(shape))
        for name, score in BY_NAME.items():
            expected = score.compute(BinaryBatch(pairs, options))
            got = score.compute(BinaryBatch(pairs, options, ops=TorchOps(device)))
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=name)


def test_torch_backend_on_cpu_equals_numpy(rng):
    _compare(rng, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_backend_on_cuda_equals_numpy(rng):
    _compare(rng, "cuda:0")


def test_device_pipeline_equals_cpu_pipeline(tmp_path, rng):
    from PIL import Image

    pairs = []
    for i, shape in enumerate([(30, 40)] * 3 + [(25, 25)] * 2):
        for folder, mask in (("p", smooth_mask(rng, shape)), ("g", smooth_mask(rng, shape))):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / folder / f"{i}.png")
        pairs.append(Pair(str(i), tmp_path / "p" / f"{i}.png", tmp_path / "g" / f"{i}.png"))
    (tmp_path / "p" / "bad.png").write_bytes(b"broken")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "g" / "bad.png")
    pairs.insert(2, Pair("bad", tmp_path / "p" / "bad.png", tmp_path / "g" / "bad.png"))
    settings = ScoreSettings(metrics=tuple(BY_NAME))
    cpu = list(score_pairs(pairs, settings, workers=1))
    batched = list(score_pairs(pairs, settings, workers=2, torch_device="cpu", batch_size=2))
    assert [o.name for o in batched] == [o.name for o in cpu]
    assert type(batched[2]).__name__ == "Failure" and "bad.png" in batched[2].message
    for a, b in zip(cpu, batched, strict=True):
        if hasattr(a, "values"):
            for name in BY_NAME:
                assert b.values[name] == pytest.approx(a.values[name], rel=1e-4, abs=1e-6), name


# segcli/engine/backend.py: each array operation of the
# numpy backend and of the torch backend (torch on the CPU, and on torch's ``meta`` device to see
# that arrays land on the backend's device) against numpy written out in the test: the float64 sums,
# means, cumulative sums and dot products that a float32 accumulation would get wrong (2**24 + 1 is
# not a float32), the float32 that a batch keeps through ``where``, the per-image shapes, the
# descending sort that keeps tied pixels in their order (as Python's stable ``sorted`` does), the
# counts as int64, and the two-level map's float32 values.

BIG = 2.0**24  # float32 holds 2**24 but not 2**24 + 1: a float32 accumulation drops the ones after it


def _ops(name):
    return NUMPY if name == "numpy" else TorchOps("cpu")


def _np(x):
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


BACKENDS = ["numpy", "torch"]


def test_two_level_map_is_float32_unless_asked():
    m = TwoLevelMap(np.array([[True, False], [False, True]]), 5.5, 0.25)
    values = np.asarray(m)
    assert values.dtype == np.float32
    assert values.tolist() == [[5.5, 0.25], [0.25, 5.5]]
    assert np.asarray(m, dtype=np.float64).dtype == np.float64
    assert np.asarray(m, dtype=np.float64).tolist() == [[5.5, 0.25], [0.25, 5.5]]


def test_numpy_ops_is_the_numpy_backend():
    assert NUMPY.name == "numpy" and isinstance(NUMPY, NumpyOps)
    assert TorchOps("cpu").name == "torch"
    assert TorchOps("cpu").device == torch.device("cpu")


@pytest.mark.parametrize("name", BACKENDS)
def test_flat_pixel_count_and_pixel_map(name):
    ops = _ops(name)
    batch = ops.asarray(np.arange(24).reshape(2, 3, 4) % 3 == 0, "bool")
    assert tuple(ops.flat(batch).shape) == (2, 12)
    counts = ops.pixel_count(batch)
    assert counts.dtype == np.int64 and counts.tolist() == [12, 12]
    weights = ops.pixel_map(TwoLevelMap(np.eye(3, dtype=bool)[None].repeat(2, 0), 3.0, 1.0))
    assert str(weights.dtype).endswith("float32")
    assert _np(weights)[1].tolist() == [[3.0, 1.0, 1.0], [1.0, 3.0, 1.0], [1.0, 1.0, 3.0]]
    doubles = ops.asarray(np.array([[0.5, 2.0]], np.float64), "float32")
    assert str(doubles.dtype).endswith("float32")


@pytest.mark.parametrize("name", BACKENDS)
def test_sum_mean_are_float64_per_image(name):
    ops = _ops(name)
    x = ops.asarray(np.array([[[BIG, 1.0], [1.0, 1.0]], [[0.5, 0.25], [0.0, -1.0]]], np.float32), "float32")
    sums = ops.sum(x)
    means = ops.mean(x)
    assert isinstance(sums, np.ndarray) and isinstance(means, np.ndarray)
    assert sums.dtype == np.float64 and means.dtype == np.float64
    assert sums.tolist() == [BIG + 3.0, -0.25]  # in float32 the first would be 2**24
    assert means.tolist() == [(BIG + 3.0) / 4, -0.0625]


@pytest.mark.parametrize("name", BACKENDS)
def test_count_is_int64_nonzero_pixels_per_image(name):
    ops = _ops(name)
    mask = np.array([[[True, False, True], [True, True, False]], [[False] * 3, [False, False, True]]])
    for array, dtype in ((mask, "bool"), (mask.astype(np.float32), "float32"), (mask.astype(np.uint8), "uint8")):
        counts = ops.count(ops.asarray(array, dtype))
        assert isinstance(counts, np.ndarray) and counts.dtype == np.int64
        assert counts.tolist() == [4, 1]


@pytest.mark.parametrize("name", BACKENDS)
def test_where_keeps_float32_with_python_numbers(name):
    ops = _ops(name)
    cond = ops.asarray(np.array([[True, False, True]]), "bool")
    x = ops.asarray(np.array([[0.5, 0.25, 0.125]]), "float32")
    for a, b, expected in ((2.0, x, [2.0, 0.25, 2.0]), (x, 3, [0.5, 3.0, 0.125]), (1, 0, [1.0, 0.0, 1.0])):
        got = ops.where(cond, a, b)
        assert str(got.dtype).endswith("float32"), (a, b)
        assert _np(got)[0].tolist() == expected


@pytest.mark.parametrize("name", BACKENDS)
def test_log_exp_clamp_min_to_float64(name):
    ops = _ops(name)
    x = ops.asarray(np.array([[0.5, 2.0, 1e-9, 0.0]]), "float32")
    clamped = ops.clamp_min(x, 1e-3)
    assert _np(clamped).tolist() == np.array([[0.5, 2.0, 1e-3, 1e-3]], np.float32).tolist()
    np.testing.assert_allclose(_np(ops.log(clamped)), np.log(np.array([[0.5, 2.0, 1e-3, 1e-3]])), rtol=1e-6)
    np.testing.assert_allclose(_np(ops.exp(x)), np.exp(np.array([[0.5, 2.0, 1e-9, 0.0]])), rtol=1e-6)
    doubles = ops.to_float64(x)
    assert str(doubles.dtype).endswith("float64")
    assert _np(doubles).tolist() == np.array([[0.5, 2.0, 1e-9, 0.0]], np.float32).astype(np.float64).tolist()


@pytest.mark.parametrize("name", BACKENDS)
def test_per_image_broadcasts_against_the_batch(name):
    ops = _ops(name)
    like = ops.asarray(np.zeros((3, 2, 4)), "float32")
    values = ops.per_image(np.array([1.5, 2.5, 3.5], np.float64), like)
    assert tuple(values.shape) == (3, 1, 1)
    assert str(values.dtype).endswith("float32")
    assert _np(values).ravel().tolist() == [1.5, 2.5, 3.5]
    flat_like = ops.asarray(np.zeros((2, 5)), "float32")
    assert tuple(ops.per_image(np.array([1.0, 2.0]), flat_like).shape) == (2, 1)


@pytest.mark.parametrize("name", BACKENDS)
def test_sort_descending_keeps_ties_in_order(name):
    ops = _ops(name)
    values = np.repeat(np.arange(5.0), 300).astype(np.float32)
    np.random.default_rng(0).shuffle(values)
    expected = sorted(range(values.size), key=lambda i: -values[i])  # Python's sort is stable
    ordered, order = ops.sort_descending(ops.asarray(values, "float32"))
    assert _np(order).tolist() == expected
    assert _np(ordered).tolist() == values[expected].tolist()


@pytest.mark.parametrize("name", BACKENDS)
def test_cumsum_and_dot_accumulate_in_float64(name):
    ops = _ops(name)
    x = ops.asarray(np.array([BIG, 1.0, 1.0, 1.0]), "float32")
    cumulative = ops.cumsum(x)
    assert str(cumulative.dtype).endswith("float64")
    assert _np(cumulative).tolist() == [BIG, BIG + 1, BIG + 2, BIG + 3]
    ones = ops.asarray(np.ones(4), "float32")
    # the torch Lovász hinge hands dot float64 vectors; torch's dot also widens float32 ones
    # (numpy's dot of float32 vectors is float32: the CPU path never calls it with them)
    dot = ops.dot(ops.to_float64(x), ops.to_float64(ones))
    assert type(dot) is float and dot == BIG + 3
    if name == "torch":
        assert ops.dot(x, ones) == BIG + 3
        assert ops.dot(ones, ops.to_float64(x)) == BIG + 3
    assert ops.dot(ones, ops.asarray(np.array([1.0, 2.0, 3.0, 4.0]), "float32")) == 10.0


def test_torch_asarray_from_numpy_tensor_and_non_contiguous():
    ops = TorchOps("cpu")
    reversed_view = np.arange(6.0)[::-1].reshape(2, 3)  # negative strides: torch.from_numpy refuses them
    t = ops.asarray(reversed_view, "float32")
    assert t.dtype == torch.float32 and t.tolist() == [[5.0, 4.0, 3.0], [2.0, 1.0, 0.0]]
    t64 = ops.asarray(torch.tensor([[1, 0, 2]]), "float64")
    assert t64.dtype == torch.float64 and t64.tolist() == [[1.0, 0.0, 2.0]]
    as_bool = ops.asarray(np.array([[0, 3]]), "bool")
    assert as_bool.dtype == torch.bool and as_bool.tolist() == [[False, True]]


def test_torch_arrays_land_on_the_backend_device():
    """torch's ``meta`` device stands for a GPU: what asarray, where, per_image and pixel_map make
    must be there, not on the CPU."""
    ops = TorchOps("meta")
    assert ops.device == torch.device("meta")
    mask = ops.asarray(np.array([[True, False]]), "bool")
    assert mask.device.type == "meta"
    assert ops.asarray(torch.zeros(1, 2), "float32").device.type == "meta"
    assert ops.where(mask, 1.0, 0.0).device.type == "meta"
    assert ops.per_image(np.array([1.0]), mask).device.type == "meta"
    assert ops.pixel_map(np.ones((1, 2))).device.type == "meta"


@pytest.mark.parametrize("name", BACKENDS)
def test_where_narrows_only_python_numbers(name):
    """Python numbers become float32; an array or tensor given keeps its dtype and its float64
    values (0.1 is not a float32)."""
    ops = _ops(name)
    cond = ops.asarray(np.array([True, False, True]), "bool")
    doubles = ops.asarray(np.array([0.1, 0.2, 0.3]), "float64")
    got = ops.where(cond, doubles, 0.5)
    assert str(got.dtype).endswith("float64")
    assert _np(got).tolist() == [0.1, 0.5, 0.3]
    got = ops.where(cond, 0.5, doubles)
    assert str(got.dtype).endswith("float64")
    assert _np(got).tolist() == [0.5, 0.2, 0.5]


def test_torch_where_of_two_numbers_is_float32_whatever_the_default_dtype():
    ops = TorchOps("cpu")
    cond = ops.asarray(np.array([[True, False]]), "bool")
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = ops.where(cond, 1.0, -1.0)
    finally:
        torch.set_default_dtype(default)
    assert got.dtype == torch.float32 and got.tolist() == [[1.0, -1.0]]
