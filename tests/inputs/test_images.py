"""Reading every supported format, spacing metadata, and atomic writes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from segcli.errors import OutputExistsError, ReadError
from segcli.inputs.images import LossyFormatWarning, read_image
from segcli.inputs.pairing import find_images, pair_files
from segcli.results.files import atomic_path, write_tiff


def test_formats_round_trip(tmp_path):
    mask = np.zeros((6, 7), np.uint8)
    mask[2:4, 1:5] = 255
    Image.fromarray(mask).save(tmp_path / "a.png")
    Image.fromarray(mask).save(tmp_path / "a.bmp")
    Image.fromarray(np.stack([mask] * 3, -1)).save(tmp_path / "rgb.png")
    tifffile.imwrite(tmp_path / "a.tif", mask)
    np.save(tmp_path / "a.npy", mask > 0)
    np.savez(tmp_path / "a.npz", mask=mask)
    for name in ("a.png", "a.bmp", "rgb.png", "a.tif", "a.npy", "a.npz"):
        np.testing.assert_array_equal(read_image(tmp_path / name).array > 0, mask > 0)


def test_jpeg_warns_lossy(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.jpg")
    with pytest.warns(LossyFormatWarning, match="a.jpg"):
        read_image(tmp_path / "a.jpg")


def test_colour_image_and_multi_array_npz_are_errors(tmp_path):
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[0, 0] = (255, 0, 0)
    Image.fromarray(colour).save(tmp_path / "c.png")
    with pytest.raises(ReadError, match="c.png: colour image"):
        read_image(tmp_path / "c.png")
    np.savez(tmp_path / "two.npz", a=np.zeros(3), b=np.zeros(3))
    with pytest.raises(ReadError, match="two.npz: expected exactly one array"):
        read_image(tmp_path / "two.npz")
    (tmp_path / "text.tif").write_text("not a tiff")
    with pytest.raises(ReadError, match="text.tif: cannot read"):
        read_image(tmp_path / "text.tif")


def test_tiff_spacing_from_imagej_metadata(tmp_path):
    volume = np.zeros((3, 5, 6), np.uint8)
    tifffile.imwrite(
        tmp_path / "v.tif", volume, imagej=True, resolution=(1 / 0.25, 1 / 0.5), metadata={"spacing": 2.0, "unit": "um"}
    )
    assert read_image(tmp_path / "v.tif").spacing == pytest.approx((2.0, 0.5, 0.25))
    tifffile.imwrite(tmp_path / "plain.tif", volume, photometric="minisblack")
    assert read_image(tmp_path / "plain.tif").spacing is None


def test_atomic_write_leaves_nothing_on_interrupt(tmp_path):
    target = tmp_path / "out" / "map.tif"
    with pytest.raises(KeyboardInterrupt), atomic_path(target, overwrite=False) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    write_tiff(target, np.ones((2, 2)), overwrite=False)
    with pytest.raises(OutputExistsError, match="map.tif: exists"):
        write_tiff(target, np.zeros((2, 2)), overwrite=False)
    np.testing.assert_array_equal(tifffile.imread(target), 1)


def test_pairing_suffixes_and_nested_names(tmp_path):
    for path in ("p/x/case1_0000.png", "p/x/case2_0000.png", "g/x/case1.png", "g/x/case2.png", "g/notes.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        if path.endswith(".png"):
            Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / path)
        else:
            (tmp_path / path).write_text("x")
    pairing = pair_files(tmp_path / "p", tmp_path / "g", pred_suffix="_0000")
    assert [p.name for p in pairing.pairs] == ["x/case1", "x/case2"]
    assert set(find_images(tmp_path / "g")) == {"x/case1", "x/case2"}


def test_inputs_are_not_modified(tmp_path):
    from typer.testing import CliRunner

    from segcli.cli.main import app

    mask = np.zeros((9, 9), np.uint8)
    mask[2:6, 2:6] = 255
    for folder in ("p", "g"):
        (tmp_path / folder).mkdir()
        Image.fromarray(mask).save(tmp_path / folder / "a.png")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.png")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        CliRunner().invoke(app, ["score", str(tmp_path / "p"), str(tmp_path / "g")])
        CliRunner().invoke(app, ["weightmap", str(tmp_path / "g"), "--out", str(tmp_path / "w")])
    assert {p: p.read_bytes() for p in before} == before


def test_allocator_setting_is_taken_on_glibc():
    import platform

    from segcli.run.allocator import keep_freed_memory

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert keep_freed_memory()


def _alpha_cases():
    mask = np.zeros((12, 14), np.uint8)
    mask[3:8, 4:10] = 255
    zeros = np.zeros_like(mask)
    return mask, zeros


def test_a_mask_drawn_in_alpha_only_is_refused_naming_the_file(tmp_path):
    """Colour constant, alpha varying: read as grey it would be an empty mask, silently."""
    mask, zeros = _alpha_cases()
    Image.fromarray(np.dstack([zeros, zeros, zeros, mask]), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.dstack([zeros, mask]), "LA").save(tmp_path / "la.png")
    tifffile.imwrite(tmp_path / "rgba.tif", np.dstack([zeros, zeros, zeros, mask]), photometric="rgb", extrasamples=[2])
    for name in ("rgba.png", "la.png", "rgba.tif"):
        with pytest.raises(ReadError, match=rf"{name}: its colour is one value everywhere and only its alpha"):
            read_image(tmp_path / name)


def test_alpha_is_ignored_where_the_colour_holds_the_mask(tmp_path):
    """Opaque grey RGBA, a transparent background around a white mask, grey + alpha: the grey
    levels are the mask, whatever the alpha."""
    mask, zeros = _alpha_cases()
    opaque = np.full_like(mask, 255)
    Image.fromarray(np.dstack([mask, mask, mask, opaque]), "RGBA").save(tmp_path / "opaque.png")
    Image.fromarray(np.dstack([mask, mask, mask, mask]), "RGBA").save(tmp_path / "cutout.png")
    Image.fromarray(np.dstack([mask, 255 - mask]), "LA").save(tmp_path / "la.png")
    Image.fromarray(np.dstack([zeros, zeros, zeros, opaque]), "RGBA").save(tmp_path / "empty.png")  # alpha constant
    for name, want in (("opaque.png", mask), ("cutout.png", mask), ("la.png", mask), ("empty.png", zeros)):
        np.testing.assert_array_equal(read_image(tmp_path / name).array, want)


def test_a_decoders_own_warning_names_the_file(tmp_path, monkeypatch):
    """Pillow's "Corrupt EXIF data" (or any decoder's warning) names no file: read_image says it
    again with the file's name in front; segcli's own warnings, which name it, are left as they are."""
    import segcli.inputs.images

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    real = segcli.inputs.images._decode

    def warning_decoder(path, source, suffix, *, spacing):
        warnings.warn("Corrupt EXIF data.  Expecting to read 12 bytes but only got 8. ", UserWarning, stacklevel=1)
        warnings.warn(f"{path}: JPEG is lossy; mask values may be altered", LossyFormatWarning, stacklevel=1)
        return real(path, source, suffix, spacing=spacing)

    monkeypatch.setattr(segcli.inputs.images, "_decode", warning_decoder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_image(tmp_path / "a.png")
    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, f"{tmp_path / 'a.png'}: Corrupt EXIF data.  Expecting to read 12 bytes but only got 8. "),
        (LossyFormatWarning, f"{tmp_path / 'a.png'}: JPEG is lossy; mask values may be altered"),
    ]
