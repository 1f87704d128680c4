"""Column names (segcli/scores/columns.py): building and parsing every kind of column, the
direction of each, and the refusal of class names that would not give unique columns, through
the CLI (exit 2, one line) and the API (ValueError naming the argument)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import segcli
from segcli.cli.main import app
from segcli.errors import UsageError
from segcli.scores import columns


def test_build_and_parse_each_kind_of_column():
    assert columns.per_class("hd95_pooled", "liver") == "hd95_pooled_liver"
    assert columns.at_threshold("dice", 0.35000000000000003) == "dice@0.35"
    assert columns.split_threshold("hd95_liver@0.5") == ("hd95_liver", 0.5)
    assert columns.split_threshold("a@b") == ("a@b", None)
    assert columns.rater_prefix(3) + "dice" == "rater3.dice"
    assert [columns.consensus_prefix(k) for k in columns.CONSENSUS] == ["majority.", "staple.", "interrater."]
    with pytest.raises(ValueError, match="kind: expected one of majority, staple, interrater, got 'mean'"):
        columns.consensus_prefix("mean")
    assert columns.split_source("rater12.hd95") == ("rater12.", "hd95")
    assert columns.split_source("raterx.hd95") == ("", "raterx.hd95")
    assert columns.split_class("hd95_pooled_2") == ("hd95_pooled", "2")  # the longest score name decides
    assert columns.split_class("hd95_2") == ("hd95", "2")
    assert columns.split_class("obj_ap_mean_tumor") == ("obj_ap_mean", "tumor")
    assert columns.split_class("combined") == ("combined", None)
    assert columns.split_class("name") == ("name", None)
    assert columns.base_score("staple.masd_kidney@0.25") == "masd"


@pytest.mark.parametrize(
    ("column", "way"),
    [
        ("dice", "higher"),
        ("dice_loss", "lower"),
        ("dice_liver", "higher"),
        ("rater2.hd95@0.5", "lower"),
        ("interrater.nsd", "higher"),
        ("ce", "lower"),
        ("lovasz_softmax_1", "lower"),
        ("combined", "lower"),
        ("obj_fp_2", "lower"),
        ("pq", "higher"),
        ("obj_count_pred", "none"),
        ("pred_kind", "unknown"),
    ],
)
def test_direction_of_a_column_is_its_rows(column, way):
    assert columns.direction(column) == way


def test_check_class_names_names_the_class_and_the_column():
    columns.check_class_names(["bg", "liver", "x"], ["dice", "hd95"], ["dice_loss"], option="--class-names")
    cases = [
        (["loss"], ["dice"], ["dice_loss"], "class 'loss' makes the column dice_loss, which is also the score dice"),
        (["pooled"], ["hd95", "hd95_pooled"], [], "class 'pooled' makes the column hd95_pooled, which is also the"),
        (["mean"], ["obj_ap", "obj_ap_mean"], [], "class 'mean' makes the column obj_ap_mean, which is also the"),
        (["b_c", "c"], ["a", "a_b"], [], "class 'c' makes the column a_b_c, which is also the a of class 'b_c'"),
    ]
    for names, scores, others, message in cases:
        with pytest.raises(UsageError, match=f"^--x: {message}"):
            columns.check_class_names(names, scores, others, option="--x")
    for name, what in (("a@b", "a threshold"), ("a.b", "a rater's column")):
        with pytest.raises(UsageError, match=f"^--x: class name '{name}' holds '.', which marks {what}; rename"):
            columns.check_class_names([name], ["dice"], option="--x")


@pytest.fixture
def labels(tmp_path):
    rng = np.random.default_rng(0)
    for side in ("pred", "gt"):
        (tmp_path / side).mkdir()
        np.save(tmp_path / side / "a.npy", rng.integers(0, 3, (12, 12)).astype(np.uint8))
    return tmp_path


def _score(root, *args):
    return CliRunner().invoke(app, ["score", str(root / "pred"), str(root / "gt"), "--workers", "1", *args])


CLI_REFUSALS = [
    (
        ["--class-names", "bg,loss,x", "--metrics", "dice,dice_loss"],
        "--class-names: class 'loss' makes the column dice_loss, which is also the score dice_loss; rename the class",
    ),
    (
        ["--class-names", "bg,pooled,x", "--metrics", "hd95,hd95_pooled"],
        "--class-names: class 'pooled' makes the column hd95_pooled, which is also the score hd95_pooled; "
        "rename the class",
    ),
    (
        ["--class-names", "bg,mean,x", "--objects", "components", "--metrics", "dice"],
        "--class-names: class 'mean' makes the column obj_ap_mean, which is also the score obj_ap_mean; "
        "rename the class",
    ),
    (
        ["--class-names", "bg,a@b,x", "--metrics", "dice"],
        "--class-names: class name 'a@b' holds '@', which marks a threshold; rename the class",
    ),
    (
        ["--class-names", "bg,a.b,x", "--metrics", "dice"],
        "--class-names: class name 'a.b' holds '.', which marks a rater's column; rename the class",
    ),
]


@pytest.mark.parametrize(("args", "message"), CLI_REFUSALS)
def test_the_cli_refuses_columns_that_are_not_unique(labels, args, message):
    result = _score(labels, "--num-classes", "3", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"segcli: error: {message}\n"
    assert result.stdout == ""


def test_the_refusal_comes_before_any_work(tmp_path):
    result = CliRunner().invoke(
        app, ["score", str(tmp_path / "nope"), str(tmp_path / "gone"), "--num-classes", "3",
              "--class-names", "bg,loss,x", "--metrics", "dice,dice_loss"],
    )  # fmt: skip
    assert result.exit_code == 2 and "class 'loss' makes the column dice_loss" in result.stderr


def test_a_background_class_not_scored_collides_with_nothing(labels):
    result = _score(labels, "--num-classes", "3", "--class-names", "loss,a,b", "--metrics", "dice,dice_loss")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split(",")[:5] == ["name", "dice", "dice_a", "dice_b", "dice_loss"]
    with_background = _score(
        labels, "--num-classes", "3", "--class-names", "loss,a,b", "--include-background", "--metrics", "dice,dice_loss"
    )
    assert with_background.exit_code == 2 and "class 'loss' makes the column dice_loss" in with_background.stderr


def test_the_labels_names_are_checked_too(labels):
    dataset = labels / "dataset.json"
    dataset.write_text(json.dumps({"labels": {"background": 0, "pooled": 1, "liver": 2}}))
    result = _score(labels, "--labels", str(dataset), "--metrics", "hd95,hd95_pooled")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "segcli: error: --labels: class 'pooled' makes the column hd95_pooled, which is also the score "
        "hd95_pooled; rename the class\n"
    )
    with pytest.raises(ValueError, match="^labels: class 'pooled' makes the column hd95_pooled"):
        segcli.score(np.zeros((4, 4), int), np.zeros((4, 4), int), "hd95,hd95_pooled", labels=dataset)


def test_the_api_refuses_with_a_value_error_naming_the_argument():
    pred = gt = np.array([[0, 1], [2, 1]])
    with pytest.raises(ValueError) as caught:
        segcli.score(pred, gt, "dice,dice_loss", num_classes=3, class_names=["bg", "loss", "x"])
    assert str(caught.value) == (
        "class_names: class 'loss' makes the column dice_loss, which is also the score dice_loss; rename the class"
    )
    with pytest.raises(ValueError, match="^class_names: class name 'a.b' holds '.'"):
        segcli.score(pred, gt, "dice", num_classes=3, class_names=["bg", "a.b", "x"])
    with pytest.raises(ValueError, match="^class_names: class 'mean' makes the column obj_ap_mean"):
        segcli.score(pred, gt, "obj_ap,obj_ap_mean", num_classes=3, class_names=["bg", "mean", "x"])
    values = segcli.score(pred, gt, "dice", num_classes=3, class_names=["bg", "a", "x"])
    assert list(values) == ["dice_a", "dice_x", "dice"]
