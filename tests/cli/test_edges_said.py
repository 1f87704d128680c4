"""Edges an adversary found: what is read silently one way when another was meant, rows a name
could split, and stdout that cannot be written while printing help."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from segcli.inputs.interpret import binary_pair

GT = np.zeros((8, 8), np.uint8)
GT[2:6, 2:6] = 255


def _messages(pred: np.ndarray, **kwargs) -> tuple[list[str], object]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pair = binary_pair(pred, GT, **kwargs)
    return [str(w.message) for w in caught], pair


def test_an_8_bit_probability_map_read_as_a_mask_is_said():
    soft = (GT > 0) * 200 + 30  # every pixel non-zero: all foreground as a mask
    soft[0, 0] = 0
    said, pair = _messages(soft.astype(np.uint8))
    assert len(said) == 1 and "more than two values" in said[0] and "floats" in said[0]
    assert pair.kind == "mask"
    assert int(pair.hard.sum()) == 63  # what "every non-zero value foreground" means here


@pytest.mark.parametrize(
    ("pred", "kwargs"),
    [
        (GT, {}),  # 0/255
        ((GT > 0).astype(np.uint8), {}),  # 0/1
        ((GT > 0).astype(np.uint8) * 7, {}),  # 0/7: two values, a mask
        (np.zeros((8, 8), np.uint8), {}),  # empty
        (np.full((8, 8), 9, np.uint16), {}),  # one value
        ((GT > 0) * 200 + 30, {"pred_kind": "mask"}),  # said explicitly: nothing to say
    ],
)
def test_masks_of_two_values_or_said_as_masks_warn_nothing(pred, kwargs):
    said, _ = _messages(np.asarray(pred), **kwargs)
    assert said == []


def test_integer_probabilities_given_as_prob_name_the_fix():
    from segcli.errors import ValueRangeError

    with pytest.raises(ValueRangeError, match=r"found \[0, 255\] \(integers: 8-bit probabilities must be saved as"):
        binary_pair(GT, GT, pred_kind="prob", pred_path="p.png")


def test_a_name_with_a_carriage_return_cannot_split_or_forge_a_csv_row(tmp_path):
    name = "a\rsummary:mean,0.99"
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        for stem in (name, "b"):
            Image.fromarray(GT).save(tmp_path / folder / f"{stem}.png")
    for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
        done = subprocess.run(
            [sys.executable, "-m", "segcli", "score", "pred", "gt", "--metrics", "dice", "--format", fmt],
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        rows = list(csv.reader(io.StringIO(done.stdout.decode(), newline=""), delimiter=delimiter))
        names = [row[0] for row in rows]
        assert names[:3] == ["name", name, "b"]
        assert names.count("summary:mean") == 1
        assert all(len(row) == len(rows[0]) for row in rows)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["metrics"], ["score", "--help"]])
def test_help_and_listings_on_a_full_or_closed_stdout_are_one_line_exit_3(args):
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, and not
    for env in (buffered, {**buffered, "PYTHONUNBUFFERED": "1"}):
        for redirect, cause in ((">/dev/full", "no space left on device"), (">&-", "closed")):
            command = " ".join([sys.executable, "-m", "segcli", *args, redirect])
            done = subprocess.run(["bash", "-c", command], capture_output=True, timeout=60, env=env)
            assert done.returncode == 3, done.stderr
            assert done.stderr.decode().splitlines() == [f"segcli: error: stdout: cannot write ({cause})"]


def test_report_does_not_repeat_what_the_run_said_about_reading_its_pairs(tmp_path):
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
    np.save(tmp_path / "gt" / "a.npy", GT > 0)
    np.save(tmp_path / "pred" / "a.npy", np.where(GT > 0, 3.0, -3.0).astype(np.float32))  # logits
    segcli = [sys.executable, "-m", "segcli"]
    run = subprocess.run([*segcli, "score", "pred", "gt", "-o", "run.jsonl"], cwd=tmp_path, capture_output=True)
    assert run.returncode == 0 and b"read as logits" in run.stderr
    done = subprocess.run([*segcli, "report", "run.jsonl", "-o", "r.html"], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr
    said = done.stderr.decode().splitlines()
    assert len(said) == 1 and said[0].startswith("segcli: report written to r.html ("), said


@pytest.mark.parametrize(
    "damage",
    [
        '{"name": "b", "values": {"dice": "abc"}, "meta": {}}\n',
        '{"name": "b", "values": null, "meta": {}}\n',
        "[1, 2]\n",
        "garbage in the middle\n",
    ],
)
def test_a_damaged_journal_is_one_line_not_an_internal_error_nor_records_dropped(tmp_path, damage):
    from segcli.errors import UsageError
    from segcli.results.journal import Journal

    target = tmp_path / "r.csv"
    header = {"format": "csv", "columns": ["dice"], "settings": {"metrics": ["dice"]}}
    journal = Journal.open(target, header, resume=False, overwrite=False)
    journal.append("a", {"dice": 0.5}, {})
    journal.close()
    with open(journal.path, "a") as handle:
        handle.write(damage)
        handle.write('{"name": "c", "values": {"dice": 0.25}, "meta": {}}\n')  # after it: never dropped silently
    with pytest.raises(UsageError, match=r"r\.csv\.partial: line 3 is not a record of a segcli run"):
        Journal.open(target, header, resume=True, overwrite=False)


def test_a_name_with_a_line_separator_survives_the_journal(tmp_path):
    from segcli.results.journal import Journal

    target = tmp_path / "r.csv"
    header = {"format": "csv", "columns": ["dice"], "settings": {}}
    journal = Journal.open(target, header, resume=False, overwrite=False)
    for name in ("a\u2028b", "c\x85d", "e\rf"):
        journal.append(name, {"dice": 0.5}, {})
    journal.close()
    assert list(Journal.open(target, header, resume=True, overwrite=False).done) == ["a\u2028b", "c\x85d", "e\rf"]


def test_resume_of_a_complete_output_must_be_the_same_run(tmp_path):
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        Image.fromarray(GT).save(tmp_path / folder / "a.png")
    segcli = [sys.executable, "-m", "segcli", "score", "pred", "gt"]
    for name in ("r.csv", "r.jsonl"):
        assert subprocess.run([*segcli, "--metrics", "dice", "-o", name], cwd=tmp_path).returncode == 0
        before = (tmp_path / name).read_bytes()
        same = subprocess.run([*segcli, "--metrics", "dice", "-o", name, "--resume"], cwd=tmp_path, capture_output=True)
        assert same.returncode == 0 and b"is complete; nothing to resume" in same.stderr
        other = subprocess.run([*segcli, "--metrics", "iou", "-o", name, "--resume"], cwd=tmp_path, capture_output=True)
        assert other.returncode == 2
        assert b"holds another run's results (scores" in other.stderr
        assert (tmp_path / name).read_bytes() == before
    # JSON lines record the settings: another threshold is another run
    moved_threshold = [*segcli, "--metrics", "dice", "--threshold", "0.3", "-o", "r.jsonl", "--resume"]
    moved = subprocess.run(moved_threshold, cwd=tmp_path, capture_output=True)
    assert moved.returncode == 2 and b"(settings differ)" in moved.stderr


@pytest.mark.parametrize(("name", "written", "asked"), [("r.csv", "csv", "json"), ("r.jsonl", "jsonl", "csv"),
                                                    ("r.out", "tsv", "jsonl"), ("r.json", "json", "tsv")])  # fmt: skip
def test_resume_of_a_complete_output_in_another_format_is_refused(tmp_path, name, written, asked):
    """--resume --format X of a finished file written as Y is refused (it was said complete and
    left as Y, though X was asked for); --format Y resumes (nothing to do)."""
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        Image.fromarray(GT).save(tmp_path / folder / "a.png")
    segcli = [sys.executable, "-m", "segcli", "score", "pred", "gt", "--metrics", "dice", "-o", name]
    assert subprocess.run([*segcli, "--format", written], cwd=tmp_path).returncode == 0
    before = (tmp_path / name).read_bytes()
    other = subprocess.run([*segcli, "--resume", "--format", asked], cwd=tmp_path, capture_output=True)
    assert other.returncode == 2, other.stderr
    assert f"{name}: complete, but written as {written}, not {asked}".encode() in other.stderr
    assert (tmp_path / name).read_bytes() == before
    same = subprocess.run([*segcli, "--resume", "--format", written], cwd=tmp_path, capture_output=True)
    assert same.returncode == 0 and b"is complete; nothing to resume" in same.stderr


def test_the_report_ranks_worst_cases_the_way_compare_counts_wins():
    from segcli.errors import UsageError
    from segcli.results.html import worst_cases
    from segcli.results.read_back import RunResults

    columns = ["dice", "combined", "rater2.hd95", "majority.dice", "obj_count_gt"]
    rows = [
        {"dice": 0.9, "combined": 0.1, "rater2.hd95": 1.0, "majority.dice": 0.9, "obj_count_gt": 3},
        {"dice": 0.2, "combined": 0.8, "rater2.hd95": 9.0, "majority.dice": 0.1, "obj_count_gt": 5},
        {"dice": 0.5, "combined": 0.4, "rater2.hd95": 4.0, "majority.dice": 0.6, "obj_count_gt": 1},
    ]
    results = RunResults(columns, ["a", "b", "c"], rows, [{}] * 3)
    # b is worst by every directed column: lowest dice, highest combined loss, farthest hd95
    for column in ("dice", "combined", "rater2.hd95", "majority.dice"):
        assert worst_cases(results, column, 3) == [1, 2, 0], column
    with pytest.raises(UsageError, match="obj_count_gt: no better or worse direction"):
        worst_cases(results, "obj_count_gt", 3)


def test_too_few_bootstrap_resamples_give_a_reason_not_scipy_warnings():
    from segcli.results.intervals import mean_intervals

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = mean_intervals({"dice": [0.1, 0.5, 0.9, 0.3]}, n_resamples=1)
    assert [str(w.message) for w in caught] == []
    low, high, reason = out["dice"]
    assert np.isnan(low) and np.isnan(high)
    assert reason == "the BCa bootstrap found no interval in 1 resamples"


@pytest.mark.parametrize(
    ("text", "policy"), [("NaN", "nan"), ("Inf", "inf"), (" worst ", "worst"), ("1e400", "inf"), ("7.5", 7.5)]
)
def test_empty_distance_policies_in_any_case_and_infinite_numbers(text, policy):
    from segcli.settings import empty_distance_policy

    assert empty_distance_policy(text) == policy


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "out.html"], "out.html: written as csv, whatever its name says; the HTML page is --report"),
        (["-o", "out.csv.gz"], "out.csv.gz: written as csv, whatever its name says; it is not compressed"),
        (["-o", "out.json", "--format", "csv"], "out.json: written as csv, whatever its name says"),
        (["--spacing-unit", "mm"], "--spacing-unit names the unit of --spacing; without --spacing it does nothing"),
        (["--class-weight-scheme", "median"], "--class-weight-scheme picks from a --class-weights JSON file"),
        (["--empty-distance", "NaN"], None),
    ],
)
def test_options_that_do_nothing_or_disagree_are_said(tmp_path, args, said):
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        Image.fromarray(GT).save(tmp_path / folder / "a.png")
    command = [sys.executable, "-m", "segcli", "score", "pred", "gt", "--metrics", "dice", *args]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.decode().splitlines()
    if said:
        assert len(lines) == 1 and lines[0].startswith(f"segcli: warning: {said}"), lines
    else:
        assert lines == []


def test_weightmap_wc_scheme_without_a_json_is_said(tmp_path):
    (tmp_path / "m").mkdir()
    labels = np.zeros((8, 8), np.uint8)
    labels[1:3, 1:3], labels[5:7, 5:7] = 1, 2
    Image.fromarray(labels).save(tmp_path / "m" / "a.png")
    command = [sys.executable, "-m", "segcli", "weightmap", "m", "--out", "w", "--wc-scheme", "median"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert "--wc-scheme picks from a --wc JSON file; without one it does nothing" in done.stderr.decode()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 3, "class_weights": [1, 2], "metrics": "ce"}, "class_weights: expected 3 weights"),
        ({"num_classes": 3, "class_weights": [1, 2, -1], "metrics": "ce"}, "class_weights: expected a finite number"),
        ({"class_weights": [1, 2], "metrics": "dice"}, "class_weights: applies to multi-class scoring"),
        ({"threshold": True, "metrics": "dice"}, "threshold: expected a finite number >= 0 and <= 1, got True"),
    ],
)
def test_api_arguments_that_were_silently_taken(kwargs, message):
    import segcli

    prob = np.zeros((3, 8, 8), np.float32)
    prob[0] = 1.0
    labels = np.zeros((8, 8), np.int64)
    multiclass = "num_classes" in kwargs
    with pytest.raises(ValueError, match=message):
        segcli.score(prob if multiclass else prob[0], labels if multiclass else labels > 0, **kwargs)


def test_api_half_precision_and_meta_tensors():
    torch = pytest.importorskip("torch")
    import segcli

    target = torch.zeros(8, 8, dtype=torch.bool)
    target[2:6, 2:6] = True
    for dtype in (torch.bfloat16, torch.float16):
        prob = target.to(dtype) * 0.75  # 0.75 is exact in both
        assert segcli.score(prob, target, metrics="dice,bce") == pytest.approx(
            segcli.score(prob.float(), target, metrics="dice,bce")
        )
    with pytest.raises(TypeError, match="pred: a meta tensor holds no values"):
        segcli.score(torch.ones(8, 8, device="meta"), target, metrics="dice")


def test_resume_of_a_complete_output_made_from_other_prediction_files_is_refused(tmp_path):
    other = GT.copy()
    other[0, :] = 255
    for folder, array in (("pred", GT), ("pred2", other), ("gt", GT)):
        (tmp_path / folder).mkdir()
        Image.fromarray(array).save(tmp_path / folder / "a.png")
    segcli = [sys.executable, "-m", "segcli", "score"]
    for name in ("r.csv", "r.jsonl", "r.json", "r.tsv"):
        assert subprocess.run([*segcli, "pred", "gt", "-o", name], cwd=tmp_path, capture_output=True).returncode == 0
        done = subprocess.run([*segcli, "pred2", "gt", "-o", name, "--resume"], cwd=tmp_path, capture_output=True)
        assert done.returncode == 2, done.stderr
        assert b"(input files differ)" in done.stderr


def test_std_of_equal_values_is_zero_not_a_rounding_residue():
    from segcli.results.summary import summarize

    value = 0.8666666666666667  # np.std of seven of these is 2.2e-16
    assert summarize(["dice"], [{"dice": value}] * 7)["dice"]["std"] == 0.0
    assert np.isnan(summarize(["hd"], [{"hd": float("inf")}] * 3)["hd"]["std"])  # inf - inf: undefined
    assert summarize(["d"], [{"d": 1.0}, {"d": 3.0}])["d"]["std"] == 1.0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["score", "self", "gt"], "self: a symbolic link that leads nowhere (broken, or a loop)"),
        (["compare", "", "b.csv"], "an empty path"),
        (["compare", "a.csv", "b.csv", "--gt", ""], "an empty path"),
        (["score", "pred", "gt", "--metrics", "unet_wce", "--w0", "1e39"], "--w0"),
        (["score", "pred", "gt", "--metrics", "unet_wce", "--sigma", "4e38"], "--sigma"),
    ],
)
def test_more_usage_errors_before_any_work(tmp_path, args, said):
    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        Image.fromarray(GT).save(tmp_path / folder / "a.png")
    (tmp_path / "self").symlink_to("self")
    done = subprocess.run([sys.executable, "-m", "segcli", *args], cwd=tmp_path, capture_output=True)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and said in lines[0], lines


def test_unet_options_at_the_float32_edge():
    from segcli.engine.maps import FLOAT32_MAX, check_unet_options

    # the largest float32 plus a class weight of 1 is still that float32 (finite): accepted
    assert check_unet_options(w0=FLOAT32_MAX, sigma=1.0)[0] == FLOAT32_MAX
    with pytest.raises(ValueError, match="w0: 3e\\+38 plus a class weight is beyond the float32 maps' range"):
        check_unet_options(w0=3e38, sigma=1.0, class_weights=(1.0, 3e38))


def test_compare_reads_a_quoted_carriage_return_in_a_name(tmp_path):
    from segcli.results.compare import read_results

    (tmp_path / "r.csv").write_bytes(b'name,dice\n"a\rb",0.5\nc,0.25\n')
    assert read_results(tmp_path / "r.csv").values == {"a\rb": {"dice": 0.5}, "c": {"dice": 0.25}}


def test_mutation_gaps_of_this_session_by_hand():
    from segcli.results.formats import SafeCsvWriter
    from segcli.scores.columns import direction
    from segcli.settings import empty_distance_policy

    assert empty_distance_policy("+nan") == "nan"  # a NaN number, not a policy name, is the nan policy
    # the longest score name that starts a per-class column decides: dice_loss (lower), not dice
    assert direction("dice_loss_liver") == "lower" and direction("dice_liver") == "higher"
    out = io.StringIO()
    SafeCsvWriter(out, delimiter="\t").writerow(["a\rb", "1"])  # quoted, and still tab-separated
    assert out.getvalue() == '"a\rb"\t"1"\n'
    labels = (GT > 0).astype(np.uint8)
    labels[2:4, 2:6] = 2  # 0, 1, 2: a label map of two classes
    said, _ = _messages(labels)
    assert said == [
        "a prediction holds more than two values (8-bit probabilities, or a label map): scored as a mask, "
        "every non-zero value foreground; save probabilities as floats (TIFF, NPY) to score them as "
        "probabilities, or pass --num-classes K for a label map"
    ]


def test_multiclass_probabilities_that_do_not_sum_to_one_are_said():
    """Per-class sigmoid outputs (or unnormalised scores) saved as channels are scored as given,
    and said: the range of their sums names them. A softmax saved as float16 (sums within 1e-3 of
    1) and garbage at ignored pixels are not."""
    from segcli.inputs.interpret import multiclass_pair

    gt = np.zeros((6, 8), np.int64)
    gt[1:4, 1:4] = 1
    gt[4:6, 5:8] = 2
    prob = np.full((3, 6, 8), 0.25, np.float32)  # sums 0.75 everywhere
    prob[:, 0, 0] = (0.9, 0.9, 0.2)  # sums 2.0 at one pixel
    with pytest.warns(UserWarning, match=r"p\.npy: class probabilities sum to \[0\.75, 2\] over the channels, not 1"):
        pair = multiclass_pair(prob, gt, num_classes=3, pred_path="p.npy")
    assert pair.kind == "prob" and pair.labels[0, 0] == 0  # argmax of the values as given
    softmax = np.random.default_rng(0).random((3, 6, 8))
    softmax = (softmax / softmax.sum(axis=0)).astype(np.float16)
    ignored = gt.copy()
    ignored[0, :] = 255
    garbage = softmax.astype(np.float32)
    garbage[:, 0, :] = 0.9  # sums 2.7, but only where the GT says ignore
    within = np.zeros((3, 6, 8), np.float64)
    within[0] = 1.0
    within[1, 2, 2] = 0.0009  # sums 1.0009 and 1 - 0.0009: within the tolerance
    within[0, 3, 3] = 1.0 - 0.0009
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        multiclass_pair(softmax, gt, num_classes=3, pred_path="s.npy")
        multiclass_pair(garbage, ignored, num_classes=3, pred_path="g.npy")
        multiclass_pair(within, gt, num_classes=3, pred_path="w.npy")
        multiclass_pair(np.full((1, 6, 8), 0.3), np.zeros((6, 8), np.int64), num_classes=1, pred_path="one.npy")
    two = np.array([[[0.7]], [[0.7]]])  # two classes, one pixel, summing to 1.4: said, in full
    with pytest.warns(UserWarning) as said:
        multiclass_pair(two, np.zeros((1, 1), np.int64), num_classes=2, pred_path="t.npy")
    assert [str(w.message) for w in said] == [
        "t.npy: class probabilities sum to [1.4, 1.4] over the channels, not 1; scored as given (the hard "
        "prediction is their argmax); pass --pred-kind logits if they are logits"
    ]
    for pixel_sum in (1.0012, 1.0 - 0.0012):  # just beyond it, on either side
        beyond = np.zeros((3, 6, 8), np.float64)
        beyond[0] = 1.0
        beyond[:2, 5, 7] = (0.5, pixel_sum - 0.5)
        with pytest.warns(UserWarning, match=rf"sum to \[{min(pixel_sum, 1):.4g}, {max(pixel_sum, 1):.4g}\]"):
            multiclass_pair(beyond, gt, num_classes=3, pred_path="b.npy")


def test_options_that_do_nothing_in_this_run_are_said(tmp_path):
    """weightmap's U-Net options with another --kind, and --iou-threshold without an object
    score, change nothing: said on stderr, not silently dropped."""
    from typer.testing import CliRunner

    from segcli.cli.main import app

    for folder in ("pred", "gt"):
        (tmp_path / folder).mkdir()
        Image.fromarray(GT).save(tmp_path / folder / "a.png")
    runner = CliRunner()
    sdf = runner.invoke(
        app,
        [
            "weightmap",
            str(tmp_path / "gt"),
            "--out",
            str(tmp_path / "w"),
            "--kind",
            "sdf",
            "--w0",
            "-0",
            "--sigma",
            "2",
        ],
    )
    assert sdf.exit_code == 0, sdf.output
    assert "segcli: warning: --w0, --sigma: --kind unet options; --kind sdf does not use them" in sdf.stderr
    unet = runner.invoke(app, ["weightmap", str(tmp_path / "gt"), "--out", str(tmp_path / "u"), "--w0", "3"])
    assert unet.exit_code == 0 and "does not use them" not in unet.stderr
    plain = [str(tmp_path / "pred"), str(tmp_path / "gt"), "--metrics", "dice", "--format", "csv"]
    unused = runner.invoke(app, ["score", *plain, "--iou-threshold", "0.7"])
    assert unused.exit_code == 0
    assert "segcli: warning: --iou-threshold applies to object scores" in unused.stderr
    used = runner.invoke(app, ["score", *plain, "--iou-threshold", "0.7", "--objects", "components"])
    assert used.exit_code == 0 and "--iou-threshold" not in used.stderr
