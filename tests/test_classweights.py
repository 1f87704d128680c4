"""Class-weight schemes against scikit-learn's compute_class_weight('balanced') and hand-worked counts."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from PIL import Image
from sklearn.utils.class_weight import compute_class_weight

from segcli import classweights as cw
from segcli.errors import InputError, ValueRangeError


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


# segcli/classweights.py: the per-file counts
# (ignore index in and out of the classes, 0/255 masks, float and bool label maps), the messages
# of labels outside the classes, the errors of one file, and the arguments checked. Counts are
# worked by hand (numpy's bincount over the kept pixels as the reference).


def _npy(tmp_path, name, array):
    path = tmp_path / f"{name}.npy"
    np.save(path, np.asarray(array))
    return path


def test_count_file_with_the_default_ignore_index_255(tmp_path):
    labels = np.array([[0, 1, 1, 2], [255, 255, 255, 0]], np.uint8)
    result = cw.count_file(_npy(tmp_path, "a", labels))  # ignore_index defaults to 255
    assert result.counts.tolist() == [2, 2, 1]
    assert (result.ignored_pixels, result.valid_pixels, result.zero_255) == (3, 5, None)


def test_count_file_without_ignore_pixels_ignores_none(tmp_path):
    result = cw.count_file(_npy(tmp_path, "a", [[0, 2, 2]]), num_classes=4)
    assert result.counts.tolist() == [1, 0, 2, 0]  # num_classes long, absent classes 0
    assert (result.ignored_pixels, result.zero_255) == (0, None)


def test_count_file_ignore_index_inside_the_classes(tmp_path):
    """--ignore-index 0 with three classes: label 0 is left out, its pixels counted as ignored."""
    result = cw.count_file(_npy(tmp_path, "a", [[0, 0, 1, 2, 2, 2]]), num_classes=3, ignore_index=0)
    assert result.counts.tolist() == [0, 1, 3]
    assert result.ignored_pixels == 2
    # ... and the largest class as the ignore index
    result = cw.count_file(_npy(tmp_path, "b", [[0, 1, 2, 2]]), num_classes=3, ignore_index=2)
    assert (result.counts.tolist(), result.ignored_pixels) == ([1, 1, 0], 2)


def test_count_file_ignore_index_beyond_the_classes_other_than_255(tmp_path):
    result = cw.count_file(_npy(tmp_path, "a", [[0, 1, 7, 7, 1]]), num_classes=2, ignore_index=7)
    assert (result.counts.tolist(), result.ignored_pixels) == ([1, 2], 2)


@pytest.mark.parametrize(
    ("labels", "ignore_index", "counts", "ignored", "zero_255"),
    [
        ([[0, 255, 255, 0, 0]], 255, [3], 2, (3, 2)),  # 255 ignored: 0/255 mask noticed
        ([[0, 255, 255, 0, 0]], None, [3] + [0] * 254 + [2], 0, (3, 2)),  # 255 a class
        ([[255, 255]], None, [0] * 255 + [2], 0, (0, 2)),
        ([[0, 0]], None, [2], 0, (2, 0)),
        ([[0, 255, 1]], 255, [1, 1], 1, None),
        ([[0, 255, 1]], None, [1, 1] + [0] * 253 + [1], 0, None),
        ([[0, 0, 9, 9]], 9, [2], 2, None),  # the ignore index is not 255: no 0/255 mask
    ],
)
def test_count_file_zero_255_masks(tmp_path, labels, ignore_index, counts, ignored, zero_255):
    result = cw.count_file(_npy(tmp_path, "a", np.array(labels, np.uint8)), ignore_index=ignore_index)
    assert result.counts.tolist() == counts
    assert (result.ignored_pixels, result.zero_255) == (ignored, zero_255)


def test_count_file_of_ignore_pixels_only(tmp_path):
    result = cw.count_file(_npy(tmp_path, "a", np.full((2, 2), 255, np.uint8)))
    assert (result.counts.tolist(), result.ignored_pixels, result.zero_255) == ([], 4, (0, 4))
    result = cw.count_file(_npy(tmp_path, "b", np.full((2, 2), 255, np.uint8)), num_classes=2)
    assert (result.counts.tolist(), result.ignored_pixels) == ([0, 0], 4)


def test_count_file_float_and_bool_label_maps(tmp_path):
    result = cw.count_file(_npy(tmp_path, "f", np.array([[0.0, 2.0, 2.0], [1.0, 255.0, 0.0]])))
    assert (result.counts.tolist(), result.ignored_pixels) == ([2, 1, 2], 1)
    result = cw.count_file(_npy(tmp_path, "b", np.array([[True, False, True, True]])))
    assert result.counts.tolist() == [1, 3]
    for bad in ([[0.0, 1.5]], [[0.0, np.nan]], [[np.inf, 1.0]]):
        with pytest.raises(ValueRangeError, match=r"f\.npy: label map holds non-integer or non-finite values$"):
            cw.count_file(_npy(tmp_path, "f", np.array(bad)))


@pytest.mark.parametrize(
    ("labels", "num_classes", "ignore_index", "message"),
    [
        ([[0, 3]], 3, 255, r"a\.npy: label 3 outside 0\.\.2 and not the ignore index \(255\)$"),
        ([[0, 4, 7, 1]], 3, 255, r"label 7 outside 0\.\.2 and not the ignore index \(255\)$"),
        ([[-2, 0, 5]], 3, None, r"label -2 outside 0\.\.2 and not an ignore index \(none set\)$"),
        ([[-1, 0, 2]], None, 255, r"a\.npy: negative label -1, not the ignore index \(255\)$"),
        ([[0, 65536]], None, None, r"label 65536 outside 0\.\.65535 \(the most classes inferred\) and not an ignore"),
        ([[0, 255]], 2, None, r"label 255 outside 0\.\.1 and not an ignore index \(none set\)$"),
        ([[0, 254, 255]], 3, 255, r"label 254 outside 0\.\.2"),
    ],
)
def test_labels_outside_the_classes_name_the_label(tmp_path, labels, num_classes, ignore_index, message):
    with pytest.raises(cw.LabelRangeError, match=message):
        cw.count_file(_npy(tmp_path, "a", np.array(labels, np.int64)), num_classes, ignore_index)


def test_label_zero_and_the_largest_inferred_class_are_classes(tmp_path):
    assert cw.count_file(_npy(tmp_path, "a", np.array([[0, 65535]], np.int64)), ignore_index=None).counts.size == 65536
    assert cw.count_file(_npy(tmp_path, "b", [[0, 2]]), num_classes=3).counts.tolist() == [1, 0, 1]


def test_one_file_errors_become_input_errors_naming_the_file(tmp_path, monkeypatch):
    error = cw._count_task(_npy(tmp_path, "a", [[0, 5]]), num_classes=3, ignore_index=None)
    assert isinstance(error, cw.LabelRangeError) and "label 5 outside 0..2" in str(error)
    assert cw._count_task(_npy(tmp_path, "b", [[0, 7]]), 2, 7).counts.tolist() == [1, 0]

    def fail(kind):
        def read(path):
            raise kind("boom")

        return read

    monkeypatch.setattr(cw, "read_image", fail(RuntimeError))
    error = cw._count_task(tmp_path / "c.npy", None, 255)
    assert isinstance(error, InputError) and str(error) == f"{tmp_path / 'c.npy'}: RuntimeError: boom"
    monkeypatch.setattr(cw, "read_image", fail(MemoryError))
    assert str(cw._count_task(tmp_path / "c.npy", None, 255)) == f"{tmp_path / 'c.npy'}: out of memory"
    from segcli.errors import SegcliError

    monkeypatch.setattr(cw, "read_image", fail(SegcliError))
    error = cw._count_task(tmp_path / "c.npy", None, 255)
    assert type(error) is InputError and str(error) == "boom"


def test_count_classes_checks_its_arguments(tmp_path):
    paths = [_npy(tmp_path, "a", [[0, 1]])]
    assert cw.count_classes(paths, num_classes=cw.MAX_CLASSES).num_classes == cw.MAX_CLASSES
    with pytest.raises(ValueError, match=r"^num_classes: expected 2\.\.65536, got 65537$"):
        cw.count_classes(paths, num_classes=cw.MAX_CLASSES + 1)
    with pytest.raises(ValueError, match="^workers: expected >= 1, got 0$"):
        cw.count_classes(paths, workers=0)
    with pytest.raises(ValueError, match="^errors: expected raise or collect, got 'skip'$"):
        cw.count_classes(paths, errors="skip")


def test_count_classes_defaults_count_255_as_ignored(tmp_path):
    """By default (binary_0_255 off) a 0/255 mask's 255 is the ignore index, not class 1."""
    counts = cw.count_classes([_npy(tmp_path, "a", np.array([[0, 255, 255]], np.uint8))])
    assert (counts.counts.tolist(), counts.ignored_pixels, counts.binary_0_255) == ([1], 2, False)
    assert counts.counts.dtype == np.int64
    both = cw.count_classes([_npy(tmp_path, "a", np.array([[0, 255, 255]], np.uint8))], binary_0_255=True)
    assert (both.counts.tolist(), both.binary_0_255) == ([1, 2], True)


def test_count_classes_sums_files_of_different_class_counts_and_their_ignored_pixels(tmp_path):
    paths = [
        _npy(tmp_path, "a", np.array([[0, 1, 255, 255]], np.uint8)),
        _npy(tmp_path, "b", np.array([[0, 0, 3, 255]], np.uint8)),
        _npy(tmp_path, "c", np.array([[2, 0]], np.uint8)),
    ]
    counts = cw.count_classes(paths)
    assert counts.counts.tolist() == [4, 1, 1, 1]
    # present_pixels[c]: the valid pixels of the images where c occurs (a: 2, b: 3, c: 2)
    assert counts.present_pixels.tolist() == [7, 2, 2, 3]
    assert (counts.ignored_pixels, counts.n_images, counts.binary_0_255) == (3, 3, False)


def test_count_classes_collects_failures_and_counts_the_others(tmp_path):
    paths = [
        _npy(tmp_path, "a", np.array([[0, 1]], np.uint8)),
        _npy(tmp_path, "bad", np.array([[0, 9]], np.uint8)),
        _npy(tmp_path, "c", np.array([[1, 1, 255]], np.uint8)),
    ]
    counts = cw.count_classes(paths, num_classes=2, errors="collect")
    assert counts.counts.tolist() == [1, 3]
    assert (counts.n_images, counts.ignored_pixels) == (2, 1)
    assert [str(e) for e in counts.failed] == [f"{paths[1]}: label 9 outside 0..1 and not the ignore index (255)"]
    with pytest.raises(cw.LabelRangeError, match="label 9"):
        cw.count_classes(paths, num_classes=2)


def test_binary_0_255_counts_255_as_class_1_over_every_image(tmp_path):
    """Three 0/255 masks: 255 counted as class 1, present_pixels the pixels of the images
    where each occurs: 0 in a (4 px) and c (2 px), 255 in a and b (3 px)."""
    paths = [
        _npy(tmp_path, "a", np.array([[0, 255, 255, 0]], np.uint8)),
        _npy(tmp_path, "b", np.array([[255, 255, 255]], np.uint8)),
        _npy(tmp_path, "c", np.array([[0, 0]], np.uint8)),
    ]
    counts = cw.count_classes(paths, binary_0_255=True)
    assert counts.binary_0_255 and counts.counts.tolist() == [4, 5]
    assert counts.present_pixels.tolist() == [6, 7]
    assert counts.n_images == 3
    # one image that is not a 0/255 mask, first or last, and 255 stays the ignore index
    for extra in ("0", "z"):
        other = _npy(tmp_path, extra, np.array([[0, 1, 255]], np.uint8))
        mixed = cw.count_classes([other, *paths] if extra == "0" else [*paths, other], binary_0_255=True)
        assert not mixed.binary_0_255
        assert (mixed.counts.tolist(), mixed.ignored_pixels) == ([5, 1], 6)
    # a dataset of 0 only (no 255 anywhere) is not read as binary either
    assert not cw.count_classes([paths[2]], binary_0_255=True).binary_0_255


def test_binary_0_255_needs_images_that_were_counted(tmp_path):
    bad = _npy(tmp_path, "bad", np.array([[0.5]]))
    counts = cw.count_classes([bad], binary_0_255=True, errors="collect")
    assert (counts.n_images, counts.binary_0_255, counts.counts.tolist()) == (0, False, [])


def _formula_effective(n, beta):
    """Cui et al. 2019, eq. 3 and their normalisation to sum K, written out for the test."""
    raw = np.array([(1 - beta) / (1 - beta**k) if k else 0.0 for k in n])
    return raw * len(n) / raw.sum()


def test_effective_number_default_beta_and_its_limits():
    counts = cw.ClassCounts(np.array([10, 1000, 0]), np.array([10, 10, 10]), 1)
    assert cw.effective(counts) == pytest.approx(_formula_effective([10, 1000, 0], 0.9999))
    assert cw.class_weights(counts, ["effective"])["effective"] == pytest.approx(
        _formula_effective([10, 1000, 0], 0.9999)
    )
    assert cw.class_weights(counts, ["effective"], beta=0.5)["effective"] == pytest.approx(
        _formula_effective([10, 1000, 0], 0.5)
    )
    assert cw.effective(counts, beta=0.0).tolist() == pytest.approx([1.5, 1.5, 0.0])  # beta 0: equal weights
    for beta in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"^beta: expected 0 <= beta < 1, got {beta}$"):
            cw.effective(counts, beta=beta)


def test_schemes_of_a_dataset_without_counted_pixels_are_zero():
    empty = cw.ClassCounts(np.zeros(3, np.int64), np.zeros(3, np.int64), 1)
    for name, vector in cw.class_weights(empty, cw.SCHEMES).items():
        assert vector.tolist() == [0.0, 0.0, 0.0], name


def test_unknown_scheme_is_named_with_the_known_ones():
    counts = cw.ClassCounts(np.array([1, 1]), np.array([2, 2]), 1)
    with pytest.raises(
        ValueError, match=r"^scheme: unknown \['nope'\]; known: inverse, balanced, median, enet, effective$"
    ):
        cw.class_weights(counts, ["median", "nope"])


@pytest.mark.parametrize(
    ("labels", "ignore_index", "counts", "ignored", "zero_255"),
    [
        ([[0, 1]], 2, [1, 1], 0, None),  # ignore index just past the labels present
        ([[0, 254]], None, [1] + [0] * 253 + [1], 0, None),  # 255 values, no 255 among them
        ([[70000]], 70000, [], 1, None),  # one pixel, ignored: nothing counted, not a 0/255 mask
        ([[70000, 70000]], 70000, [], 2, None),
    ],
)
def test_count_file_corner_sizes(tmp_path, labels, ignore_index, counts, ignored, zero_255):
    result = cw.count_file(_npy(tmp_path, "a", np.array(labels, np.int64)), ignore_index=ignore_index)
    assert result.counts.tolist() == counts
    assert (result.ignored_pixels, result.zero_255) == (ignored, zero_255)


def test_count_classes_of_ignored_pixels_only_and_integer_counts(tmp_path):
    counts = cw.count_classes([_npy(tmp_path, "a", np.array([[70000, 70000]], np.int64))], ignore_index=70000)
    assert (counts.counts.tolist(), counts.present_pixels.tolist(), counts.ignored_pixels) == ([], [], 2)


def test_binary_0_255_single_pixels_integer_counts_and_failures(tmp_path):
    """A 0/255 image with one 255 pixel still makes 255 present there (present_pixels counts
    its 3 pixels); counts stay integers; a failed image is reported alongside."""
    paths = [
        _npy(tmp_path, "a", np.array([[0, 0, 255]], np.uint8)),
        _npy(tmp_path, "b", np.array([[0, 255, 255, 255]], np.uint8)),
        _npy(tmp_path, "bad", np.array([[0.5]])),
    ]
    counts = cw.count_classes(paths, binary_0_255=True, errors="collect")
    assert counts.binary_0_255
    assert (counts.counts.tolist(), counts.present_pixels.tolist()) == ([3, 4], [7, 7])
    assert counts.counts.dtype == np.int64 and counts.present_pixels.dtype == np.int64
    assert len(counts.failed) == 1 and "bad.npy" in str(counts.failed[0])
    several = cw.count_classes(paths[:2], num_classes=None)
    assert several.present_pixels.dtype == np.int64


def test_many_files_on_two_workers_count_as_their_bincounts(tmp_path):
    """More files than 8 per worker: the pool takes them a few at a time (a whole number of
    files per task); the counts are the sums of each file's bincount, in any case the one-worker
    counts."""
    rng = np.random.default_rng(11)
    arrays = [rng.integers(0, 3, (5, 6)).astype(np.uint8) for _ in range(40)]
    paths = [_npy(tmp_path, f"m{i:02d}", a) for i, a in enumerate(arrays)]
    expected = sum(np.bincount(a.ravel(), minlength=3) for a in arrays)
    for workers in (1, 2):
        assert cw.count_classes(paths, workers=workers).counts.tolist() == expected.tolist()


# Median-frequency weights where the mean and median of the frequencies differ.


def test_median_frequency_weights_when_mean_and_median_differ(tmp_path):
    """Guards median-frequency balancing's median (not the mean) and its per-class denominator
    (pixels of the images where the class occurs), counted from files. freq = n_c / pixels of
    the images holding c, w_c = median(freq) / freq_c (Eigen & Fergus 2015)."""
    from segcli import classweights as cw

    images = [
        np.array([[0, 0, 0, 1], [0, 0, 0, 0]], np.uint8),
        np.array([[2, 2, 2, 2], [2, 0, 3, 3]], np.uint8),
        np.array([[0, 0, 0, 0], [3, 3, 3, 255]], np.uint8),
    ]
    paths = []
    for i, image in enumerate(images):
        np.save(tmp_path / f"{i}.npy", image)
        paths.append(tmp_path / f"{i}.npy")
    counts = cw.count_classes(paths, num_classes=4)
    freq = []
    for c in range(4):
        n = sum(int((im == c).sum()) for im in images)
        pixels = sum(int((im != 255).sum()) for im in images if (im == c).any())
        freq.append(n / pixels)
    assert statistics.fmean(freq) != pytest.approx(statistics.median(freq))
    np.testing.assert_allclose(cw.median(counts), statistics.median(freq) / np.array(freq), rtol=1e-12)
