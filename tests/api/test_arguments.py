"""The Python API's arguments, tried as an adversary would: each bad value is a ValueError or
TypeError naming the argument, in the API's words (never a command-line flag)."""

from __future__ import annotations

import numpy as np
import pytest

import segcli

P = np.array([[0, 1, 1, 0], [0, 1, 2, 2], [0, 0, 2, 1]])
G = np.array([[0, 1, 0, 0], [0, 1, 2, 2], [1, 0, 2, 2]])


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"metrics": 5}, TypeError, "^metrics: "),
        ({"metrics": None}, TypeError, "^metrics: "),
        ({"metrics": ""}, ValueError, "^metrics: .*got nothing"),
        ({"labels": 5}, TypeError, "^labels: "),
        ({"labels": {"a": 1}}, TypeError, "^labels: "),
        ({"spacing": "x"}, ValueError, "^spacing: "),
        ({"spacing": "a,b"}, ValueError, "^spacing: "),
        ({"metrics": "unet_wce", "class_weights": "x"}, ValueError, "^class_weights: "),
        ({"num_classes": 3, "include_background": "no"}, TypeError, "^include_background: "),
        ({"num_classes": 3, "ignore_index": True}, TypeError, "^ignore_index: "),
        ({"num_classes": 3, "ignore_index": "255"}, TypeError, "^ignore_index: "),
        ({"ignore_geometry": "false"}, TypeError, "^ignore_geometry: "),
    ],
)
def test_a_bad_argument_is_named(kwargs, error, pattern):
    kwargs = {"metrics": "dice", **kwargs}
    with pytest.raises(error, match=pattern):
        segcli.score(P, G, **kwargs)


def test_a_label_beyond_the_classes_is_said_in_argument_names():
    with pytest.raises(ValueError, match=r"num_classes 2") as caught:
        segcli.score(P, G, "dice", num_classes=2)
    assert "--" not in str(caught.value)


def test_a_number_written_as_text_is_an_empty_distance_as_on_the_command_line():
    empty = np.zeros((4, 4), bool)
    gt = np.eye(4, dtype=bool)
    assert segcli.score(empty, gt, "hd", empty_distance="7.5")["hd"] == 7.5
    assert segcli.score(empty, gt, "hd", empty_distance=7.5)["hd"] == 7.5


def test_score_files_names_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="no such file or directory"):
        list(segcli.score_files(tmp_path / "nope", tmp_path / "nope2"))
    with pytest.raises(TypeError, match="^pred: "):
        list(segcli.score_files(5, tmp_path))
    with pytest.raises(ValueError, match="^workers: "):
        list(segcli.score_files(tmp_path, tmp_path, workers=True))
