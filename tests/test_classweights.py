"""Class-weight schemes against scikit-learn's compute_class_weight('balanced') and hand-worked counts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.utils.class_weight import compute_class_weight

from segcli import classweights as cw
from segcli.errors import ValueRangeError


def _write(tmp_path, name, array):
    path = tmp_path / name
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


@pytest.fixture
def dataset(tmp_path):
    a = np.array([[0, 0, 0, 1], [0, 0, 255, 1]])  # class 0: 5, class 1: 2, one ignore pixel
    b = np.array([[0, 2, 2, 2], [0, 2, 2, 255]])  # class 0: 2, class 2: 5, one ignore pixel
    return [_write(tmp_path, "a.png", a), _write(tmp_path, "b.png", b)], np.concatenate([a.ravel(), b.ravel()])


def test_counts_and_balanced_match_scikit_learn(dataset):
    paths, pixels = dataset
    counts = cw.count_classes(paths, num_classes=3, ignore_index=255)
    assert counts.counts.tolist() == [7, 2, 5]
    assert counts.present_pixels.tolist() == [14, 7, 7]
    labels = pixels[pixels != 255]
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    np.testing.assert_allclose(cw.balanced(counts), expected, rtol=1e-12)


def test_parallel_counting_equals_serial(dataset):
    paths, _ = dataset
    serial = cw.count_classes(paths * 5, num_classes=3, workers=1)
    parallel = cw.count_classes(paths * 5, num_classes=3, workers=2)
    np.testing.assert_array_equal(serial.counts, parallel.counts)
    np.testing.assert_array_equal(serial.present_pixels, parallel.present_pixels)


def test_hand_worked_schemes(dataset):
    paths, _ = dataset
    counts = cw.count_classes(paths, num_classes=3)
    n, k = 14, 3
    raw = np.array([n / (k * 7), n / (k * 2), n / (k * 5)])
    np.testing.assert_allclose(cw.inverse(counts), raw * 3 / raw.sum())
    # median frequency: freq = 7/14, 2/7, 5/7 -> median 0.5
    freq = np.array([0.5, 2 / 7, 5 / 7])
    np.testing.assert_allclose(cw.median(counts), 0.5 / freq)
    np.testing.assert_allclose(cw.enet(counts), 1 / np.log(1.02 + np.array([7, 2, 5]) / 14))
    beta = 0.9
    eff = (1 - beta) / (1 - beta ** np.array([7.0, 2.0, 5.0]))
    np.testing.assert_allclose(cw.effective(counts, beta=beta), eff * 3 / eff.sum())


def test_absent_class_gets_zero_weight(tmp_path):
    paths = [_write(tmp_path, "a.png", [[0, 0, 2, 2, 2, 255]])]
    counts = cw.count_classes(paths, num_classes=4)
    assert counts.absent == [1, 3]
    weights = cw.class_weights(counts, cw.SCHEMES, beta=0.99)
    for name, vector in weights.items():
        assert vector[1] == 0 and vector[3] == 0, name
        assert vector[0] > 0 and vector[2] > 0, name
    # balanced still uses K = 4 in N / (K n_c), as scikit-learn would for the classes it is given
    assert weights["balanced"][0] == pytest.approx(5 / (4 * 2))
    assert weights["inverse"].sum() == pytest.approx(4.0)


def test_inferred_num_classes_and_label_out_of_range(tmp_path):
    paths = [_write(tmp_path, "a.png", [[0, 5, 255]])]
    assert cw.count_classes(paths).num_classes == 6
    with pytest.raises(ValueRangeError, match="a.png: label 5 outside 0..2"):
        cw.count_classes(paths, num_classes=3)


def test_255_left_out_by_default_is_said_and_recorded(tmp_path):
    """A dataset mixing 0/255 masks with 0/1 masks: 255 is the default ignore index there (not
    every mask is 0/255), so the 0/255 masks' foreground is left out; that is warned about with
    the count, and the JSON records it. A label map with 255 borders (VOC) is told, not warned;
    an explicit --ignore-index is neither."""
    import json

    from typer.testing import CliRunner

    from segcli.cli.main import app

    mixed, voc = tmp_path / "mixed", tmp_path / "voc"
    mixed.mkdir()
    voc.mkdir()
    square = np.zeros((10, 10), np.uint8)
    square[2:6, 2:6] = 1  # 16 foreground pixels
    Image.fromarray(square * 255).save(mixed / "a.png")
    Image.fromarray(square * 255).save(mixed / "b.png")
    Image.fromarray(square).save(mixed / "c.png")
    dot = np.zeros((10, 10), np.uint8)
    dot[0, 0] = 255  # one pixel of 255: a 0/255 mask too
    Image.fromarray(dot).save(mixed / "d.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mixed / "e.png")  # empty: no 255 to lose
    labels = square.copy()
    labels[6, :] = 255  # a 10-pixel border of 255
    Image.fromarray(labels).save(voc / "a.png")
    runner = CliRunner()
    done = runner.invoke(app, ["classweights", str(mixed), "--format", "json"])
    assert done.exit_code == 0, done.output
    assert (
        "segcli: warning: 33 pixel(s) of value 255 left out as the default ignore index; 3 of 5 masks hold only "
        "0 and 255 (255 their foreground?)" in done.stderr
    )
    document = json.loads(done.stdout)
    assert document["ignored_pixels"] == 33 and document["counts"] == [3 * 84 + 99 + 100, 16]
    told = runner.invoke(app, ["classweights", str(voc), "--format", "json"])
    assert told.exit_code == 0, told.output
    assert "segcli: 10 pixel(s) of value 255 left out as the default ignore index; pass --ignore-index" in told.stderr
    assert "warning" not in told.stderr and json.loads(told.stdout)["ignored_pixels"] == 10
    explicit = runner.invoke(app, ["classweights", str(mixed), "--format", "json", "--ignore-index", "255"])
    assert "left out" not in explicit.stderr and json.loads(explicit.stdout)["ignored_pixels"] == 33
    (mixed / "c.png").unlink()  # only 0/255 masks left: 255 is class 1, nothing left out
    binary = runner.invoke(app, ["classweights", str(mixed), "--format", "json"])
    assert json.loads(binary.stdout)["ignored_pixels"] == 0 and "left out" not in binary.stderr
