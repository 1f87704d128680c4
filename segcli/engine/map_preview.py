"""A quick look at a weight map: an 8-bit RGB picture (viridis) with a colour bar and a caption,
the preview ``segcli weightmap --preview`` writes beside each map.
"""

from __future__ import annotations

import numpy as np

# Five anchor colours of matplotlib's viridis, interpolated linearly: enough for a quick look.
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64)


PREVIEW_MIN_HEIGHT = 160  # small maps are enlarged (nearest neighbour) so the colour bar's text fits
COLOUR_BAR_WIDTH = 90


def _viridis(scaled: np.ndarray) -> np.ndarray:
    position = np.clip(scaled, 0.0, 1.0) * (len(_VIRIDIS) - 1)
    index = np.clip(position.astype(int), 0, len(_VIRIDIS) - 2)
    fraction = (position - index)[..., None]
    return _VIRIDIS[index] * (1 - fraction) + _VIRIDIS[index + 1] * fraction


def preview_rgb(weight_map: np.ndarray, *, image_ndim: int | None = None) -> np.ndarray:
    """An 8-bit RGB picture of a map, min-max scaled (viridis), with a colour bar giving the value
    range and a caption naming what is shown: the middle slice of a 3-D map, the first channel of
    a stack (``image_ndim``: the input image's rank; a map of one more axis is a channel stack,
    channel c holding class c + 1).

    >>> preview_rgb(np.arange(12.0).reshape(3, 4)).shape[2]
    3
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    image = np.asarray(weight_map, dtype=np.float64)
    captions = []
    if image_ndim is not None and image.ndim == image_ndim + 1:
        captions.append(f"channel 1 of {image.shape[0]} (class 1)")
        image = image[0]
    while image.ndim > 2:
        captions.append(f"slice {image.shape[0] // 2} of {image.shape[0]}")
        image = image[image.shape[0] // 2]
    finite = image[np.isfinite(image)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    scaled = (image - low) / (high - low) if high > low else np.zeros(image.shape)
    picture = np.round(_viridis(np.nan_to_num(scaled))).astype(np.uint8)
    factor = max(1, -(-PREVIEW_MIN_HEIGHT // picture.shape[0]))
    if factor > 1:
        picture = np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)
    height, width = picture.shape[:2]
    caption_height = 14 if captions else 0
    canvas = np.full((height + caption_height, width + COLOUR_BAR_WIDTH, 3), 255, np.uint8)
    canvas[:height, :width] = picture
    bar_top, bar_bottom = 8, height - 8
    ramp = np.linspace(1.0, 0.0, max(2, bar_bottom - bar_top))[:, None]
    canvas[bar_top:bar_bottom, width + 8 : width + 24] = np.round(_viridis(np.repeat(ramp, 16, axis=1)))
    result = PILImage.fromarray(canvas)
    draw = ImageDraw.Draw(result)
    draw.text((width + 28, bar_top - 2), f"{high:.4g}", fill=(0, 0, 0))
    draw.text((width + 28, bar_bottom - 10), f"{low:.4g}", fill=(0, 0, 0))
    if captions:
        draw.text((2, height + 1), ", ".join(captions), fill=(0, 0, 0))
    return np.asarray(result)
