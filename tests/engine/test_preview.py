"""weightmap --preview: the picture, its colour bar and what it says it shows."""

from __future__ import annotations

import numpy as np

from segcli.engine.maps import COLOUR_BAR_WIDTH, PREVIEW_MIN_HEIGHT, preview_rgb


def test_colour_bar_runs_from_the_maximum_down_to_the_minimum():
    weights = np.linspace(0.0, 10.0, 200 * 300).reshape(200, 300)
    rgb = preview_rgb(weights)
    assert rgb.shape == (200, 300 + COLOUR_BAR_WIDTH, 3)
    bar = rgb[8:192, 300 + 16].astype(int)  # the bar's middle column, top to bottom
    assert (bar[0] == rgb[-1, -1 - COLOUR_BAR_WIDTH]).all()  # top = the map's largest value's colour
    assert (bar[-1] == rgb[0, 0]).all()  # bottom = the smallest
    assert not (rgb[:, 300 + 26 :] == 255).all()  # the value labels are drawn


def test_small_maps_are_enlarged_and_stacks_name_their_channel():
    stack = np.zeros((3, 20, 24))
    stack[0, 5:10, 5:10] = 1.0
    rgb = preview_rgb(stack, image_ndim=2)
    factor = -(-PREVIEW_MIN_HEIGHT // 20)
    assert rgb.shape[0] == 20 * factor + 14 and rgb.shape[1] == 24 * factor + COLOUR_BAR_WIDTH
    shown = rgb[: 20 * factor : factor, : 24 * factor : factor]
    assert (shown[6, 6] != shown[0, 0]).any()  # channel 0 (class 1) is shown, not the middle one
    assert not (rgb[20 * factor :, :100] == 255).all()  # a caption line
    volume = preview_rgb(np.zeros((5, 20, 24)), image_ndim=3)
    assert volume.shape[0] == 20 * factor + 14  # a 3-D map: the middle slice, with its caption
