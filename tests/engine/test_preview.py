"""weightmap --preview: the picture, its colour bar and what it says it shows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image, ImageDraw

from segcli.engine.map_preview import (
    COLOUR_BAR_WIDTH,
    PREVIEW_MIN_HEIGHT,
    preview_rgb,
)


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


# The preview's colours against matplotlib's viridis (five anchors, linear between), its colour bar,
# non-finite and float16 maps, enlargement, and its value labels and caption against Pillow's own rendering
# of the expected text at the expected place.


def _viridis_anchors():
    """matplotlib's viridis at 0, 1/4, 1/2, 3/4 and 1 in 8 bits (written out when it is absent)."""
    try:
        import matplotlib

        return np.round(matplotlib.colormaps["viridis"](np.linspace(0, 1, 5))[:, :3] * 255)
    except ImportError:
        return np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)


def _colours(fractions):
    anchors = _viridis_anchors()
    x = np.linspace(0, 1, 5)
    return np.stack([np.interp(fractions, x, anchors[:, c]) for c in range(3)], axis=-1)


def _drawn(size, texts):
    """White RGB picture of (width, height) with black texts drawn by Pillow at their corners."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for corner, text in texts:
        draw.text(corner, text, fill=(0, 0, 0))
    return np.asarray(image)


def test_preview_colours_follow_viridis_linearly_between_five_anchors():
    values = np.linspace(-3.0, 7.0, 41)
    rgb = preview_rgb(np.tile(values, (160, 1)))
    assert rgb.shape == (160, 41 + COLOUR_BAR_WIDTH, 3)
    expected = _colours((values + 3.0) / 10.0)
    assert np.abs(rgb[80, :41].astype(int) - expected).max() <= 1
    # the colour bar: its top row the largest value's colour, down to the smallest, linearly
    bar = rgb[8:152, 41 + 16].astype(int)
    assert np.abs(bar - _colours(np.linspace(1.0, 0.0, 144))).max() <= 1


def test_preview_of_non_finite_and_float16_maps():
    top, bottom, middle = _colours(np.array([1.0, 0.0, 0.5])).round()
    image = np.tile(np.linspace(0.0, 1.0, 20), (160, 1))
    image[0, :4] = [np.inf, -np.inf, np.nan, 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = preview_rgb(image)
    assert rgb[0, :4].tolist() == [top.tolist(), bottom.tolist(), bottom.tolist(), middle.tolist()]
    # float16 with a range wider than float16 holds: scaled in float64
    half = np.zeros((160, 3), np.float16)
    half[:, 0], half[:, 2] = -60000, 60000
    rgb = preview_rgb(half)
    assert rgb[5, :3].tolist() == [bottom.tolist(), middle.tolist(), top.tolist()]


def _labels_panel(rgb, width, height):
    """The part right of the colour bar, above any caption."""
    return rgb[:height, width + 24 :]


def test_preview_value_labels_and_caption_as_drawn_text():
    height = width = 160
    image = np.tile(np.linspace(0.5, 1234.5678, width), (height, 1))
    rgb = preview_rgb(image)
    # the largest value by the top of the bar (8 px down), 28 px right of the map; the smallest by its bottom
    expected = _drawn((COLOUR_BAR_WIDTH - 24, height), [((4, 8 - 2), "1235"), ((4, height - 8 - 10), "0.5")])
    np.testing.assert_array_equal(_labels_panel(rgb, width, height), expected)
    # a constant map: one colour, no warning, both labels the value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = preview_rgb(np.full((height, width), 2.5))
    assert (rgb[:height, :width] == _colours(0.0).round()).all()
    expected = _drawn((COLOUR_BAR_WIDTH - 24, height), [((4, 6), "2.5"), ((4, height - 18), "2.5")])
    np.testing.assert_array_equal(_labels_panel(rgb, width, height), expected)
    # nothing finite: labels 0 and 0
    rgb = preview_rgb(np.full((height, width), np.nan))
    assert (rgb[:height, :width] == _colours(0.0).round()).all()
    expected = _drawn((COLOUR_BAR_WIDTH - 24, height), [((4, 6), "0"), ((4, height - 18), "0")])
    np.testing.assert_array_equal(_labels_panel(rgb, width, height), expected)


def test_preview_of_stacks_and_volumes_shows_and_names_the_middle_slice_of_channel_1():
    rng = np.random.default_rng(3)
    stack = rng.random((3, 5, 20, 24))  # 3 channels of a 5 x 20 x 24 image
    factor = 8  # 20 rows enlarged to 160
    height, width = 20 * factor, 24 * factor
    rgb = preview_rgb(stack, image_ndim=3)
    assert rgb.shape == (height + 14, width + COLOUR_BAR_WIDTH, 3)
    np.testing.assert_array_equal(rgb[:height], preview_rgb(stack[0, 2])[:height])
    caption = _drawn((width + COLOUR_BAR_WIDTH, 14), [((2, 1), "channel 1 of 3 (class 1), slice 2 of 5")])
    np.testing.assert_array_equal(rgb[height:], caption)
    volume = rng.random((7, 20, 24))
    rgb = preview_rgb(volume)
    np.testing.assert_array_equal(rgb[:height], preview_rgb(volume[3])[:height])
    np.testing.assert_array_equal(rgb[height:], _drawn((width + COLOUR_BAR_WIDTH, 14), [((2, 1), "slice 3 of 7")]))


@pytest.mark.parametrize(("rows", "factor"), [(30, 6), (100, 2), (160, 1), (200, 1)])
def test_small_previews_are_enlarged_to_at_least_160_rows(rows, factor):
    image = np.random.default_rng(rows).random((rows, 7))
    rgb = preview_rgb(image)
    assert rgb.shape == (rows * factor, 7 * factor + COLOUR_BAR_WIDTH, 3)
    expected = np.round(_colours((image - image.min()) / (image.max() - image.min()))).astype(int)
    shown = rgb[: rows * factor : factor, : 7 * factor : factor].astype(int)
    assert np.abs(shown - expected).max() <= 1
    np.testing.assert_array_equal(rgb[: rows * factor, : 7 * factor], np.repeat(np.repeat(shown, factor, 0), factor, 1))
