"""segcli/engine/distance.py: the signed distance with anisotropic spacing and a shared ``InsideOutside``,
the EDT in float32 on both paths, Kervadec's SDF and its warning. References are scipy.ndimage's transforms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from segcli.engine.distance import InsideOutside, signed_distance
from tests.conftest import smooth_mask


@pytest.mark.parametrize("shape,spacing", [((30, 41), (0.7, 1.9)), ((130, 120), (2.0, 0.5)), ((6, 14, 11), None)])
def test_signed_distance_matches_scipy_with_spacing(shape, spacing):
    """EDT(G) - EDT(not G) in spacing units, both below and above the size where the edt
    package takes over; the same from a shared InsideOutside."""
    mask = smooth_mask(np.random.default_rng(4), shape)
    expected = ndimage.distance_transform_edt(mask, sampling=spacing) - ndimage.distance_transform_edt(
        ~mask, sampling=spacing
    )
    np.testing.assert_allclose(signed_distance(mask, spacing), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(signed_distance(InsideOutside(mask, spacing)), expected, rtol=1e-5, atol=1e-5)


def test_signed_distance_of_an_empty_or_full_mask_is_zeros_of_its_shape():
    for mask in (np.zeros((3, 5), bool), np.ones((3, 5), bool)):
        out = signed_distance(mask)
        assert out.shape == (3, 5) and out.dtype == np.float32 and not out.any()


@pytest.mark.parametrize("shape", [(20, 30), (150, 100)], ids=["scipy below 12000 px", "edt package above"])
@pytest.mark.parametrize("spacing", [None, (0.7, 1.9)])
def test_edt_matches_scipy_in_float32_on_both_paths(shape, spacing):
    """``edt`` is float32 (the maps weightmap writes) and exact, whichever transform runs."""
    from segcli.engine.distance import edt

    mask = smooth_mask(np.random.default_rng(5), shape)
    got = edt(mask, spacing)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ndimage.distance_transform_edt(mask, sampling=spacing), rtol=1e-6)


@pytest.mark.parametrize("shape", [(8, 9), (150, 100)])
def test_kervadec_sdf_is_float32_and_warns_on_a_degenerate_mask(shape):
    """Degenerate masks: zeros of the shape, float32 like every other map, and a
    DegenerateMaskWarning with its message, pointing at the caller, not at segcli (mutmut's call
    layer stands between the two, so the caller's file itself is not asserted)."""
    import segcli.engine.distance as module
    from segcli.engine.distance import DegenerateMaskWarning, kervadec_sdf

    mask = smooth_mask(np.random.default_rng(6), shape)
    assert kervadec_sdf(mask).dtype == np.float32
    for degenerate in (np.zeros(shape, bool), np.ones(shape, bool)):
        with pytest.warns(DegenerateMaskWarning) as caught:
            sdf = kervadec_sdf(degenerate)
        assert sdf.dtype == np.float32 and sdf.shape == shape and not sdf.any()
        assert str(caught[0].message) == "signed distance of an all-empty or all-full mask is taken as zeros"
        assert caught[0].filename != module.__file__
