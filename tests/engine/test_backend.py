"""The torch backend (GPU batches) gives the numpy backend's values: every count, loss and surface
score, on a batch of mixed probability maps and hard masks. Run with torch on the CPU here; the CUDA test
runs the same comparison on a GPU and skips cleanly without one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segcli.engine.backend import TorchOps
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
