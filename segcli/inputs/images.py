"""Reading image files.

Every format detail lives here: TIFF (multi-page = 3D, spacing from ImageJ / resolution tags),
PNG/BMP/JPEG (Pillow), NPY/NPZ, and the medical volumes of ``segcli.inputs.volumes`` (NIfTI, NRRD,
MetaImage: spacing and affine from the header). Reads return the array and the spacing the file
states (or None); a file at an fsspec URL (``segcli.inputs.remote``) is read the same way, from its bytes
in memory. Writing them is
``segcli.results.files``' business.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from segcli.errors import ReadError
from segcli.inputs.regular import not_regular
from segcli.inputs.remote import Url, as_input, is_url, local_copy, read_bytes, renamed
from segcli.inputs.volumes import VOLUME_SUFFIXES, read_volume

TIFF_SUFFIXES = (".tif", ".tiff")
PILLOW_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg")
NUMPY_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PILLOW_SUFFIXES + NUMPY_SUFFIXES + VOLUME_SUFFIXES
DOUBLE_SUFFIXES = (".nii.gz",)


class LossyFormatWarning(UserWarning):
    """A mask was read from a lossy format (JPEG) whose values may be altered."""


@dataclass(frozen=True)
class Image:
    """An array read from a file, with the voxel spacing the file states (array axis order) and,
    for a medical volume, its affine: array index to world (RAS+ mm), None for other formats."""

    array: np.ndarray
    spacing: tuple[float, ...] | None
    path: Path | Url  # where it was read: a local path, or an fsspec URL
    affine: np.ndarray | None = None
    unit: str | None = None  # the length unit of ``spacing`` the file states (mm, um, ...), if any


def image_suffix(path: Path) -> str:
    """The lower-case extension that names the format: ``.nii.gz`` is one, ``.gz`` alone none."""
    name = path.name.lower()
    for double in DOUBLE_SUFFIXES:
        if name.endswith(double) and len(name) > len(double):
            return double
    return path.suffix.lower()


def image_stem(path: Path) -> Path:
    """``path`` without its image extension (both parts of ``.nii.gz``)."""
    suffix = image_suffix(path)
    return path.with_name(path.name[: len(path.name) - len(suffix)]) if suffix else path


def is_image_file(path: Path) -> bool:
    """True for a visible file with one of the supported extensions."""
    return image_suffix(path) in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def read_image(path: str | Path | Url, *, spacing: bool = True) -> Image:
    """Read one 2D or 3D image from a path or an fsspec URL (``s3://...``, ``file://...``).

    Raises ``ReadError`` naming the file for anything that is not a readable image: a missing
    file, a corrupt or truncated one, a colour image, an array of unsupported rank or dtype, a
    multi-page TIFF whose pages differ in shape, a stated spacing that is not positive and
    finite, a 4-D volume whose fourth axis is not of size 1. ``spacing=False`` skips the spacing
    metadata and a volume's affine (both None): for a caller that overrides them, so a broken tag
    does not stop the read.
    """
    if is_url(path):
        return _read_url(as_input(path), spacing=spacing)
    path = Path(path)
    suffix = image_suffix(path)
    kind = not_regular(path)
    if kind is not None:
        raise ReadError(f"{path}: is {kind}, not a regular file")
    try:
        with _naming_the_file(path):
            array, stated, affine, unit = _read_local(path, suffix, spacing)
    except ReadError:
        raise
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except Exception as exc:  # every decoder has its own exception zoo
        raise ReadError(f"{path}: cannot read ({_short(exc)})") from exc
    array = _check_array(path, np.asarray(array))
    return Image(array=array, spacing=stated, path=path, affine=affine, unit=unit)


@contextlib.contextmanager
def _naming_the_file(path: Path):
    """A decoder's own warning (Pillow's "Corrupt EXIF data", nibabel's) names no file: said again
    with the file's name in front. segcli's warnings name it already."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        message = str(warning.message)
        if not message.startswith(str(path)):
            message = f"{path}: {message}"
        warnings.warn(message, warning.category, stacklevel=3)


def _read_local(path: Path, suffix: str, spacing: bool):
    """Pixels, stated spacing, affine (volumes) and unit of a local file."""
    if suffix in VOLUME_SUFFIXES:
        volume = read_volume(path, suffix, spacing=spacing)
        unit = spacing_unit(path) if volume.spacing is not None else None  # a header read, no pixels
        return volume.array, volume.spacing, volume.affine, unit
    array, stated, unit = _decode(path, path, suffix, spacing=spacing)
    return array, stated, None, unit


def _decode(path: Path | Url, source, suffix: str, *, spacing: bool):
    """Pixels, stated spacing and unit of a TIFF, Pillow or NumPy file; ``source`` is its path or
    a file object of its bytes, ``path`` names it."""
    if suffix in TIFF_SUFFIXES:
        return _read_tiff(path, source, read_spacing=spacing)
    if suffix in PILLOW_SUFFIXES:
        return _read_pillow(path, source), None, None
    if suffix == ".npy":
        return np.load(source, allow_pickle=False), None, None
    if suffix == ".npz":
        return _read_npz(path, source), None, None
    raise ReadError(f"{path}: unsupported file type '{suffix}'")


def _read_url(url: Url, *, spacing: bool) -> Image:
    """``read_image`` of a file at an fsspec URL: decoded from its bytes in memory, or (medical
    volumes, whose readers take a path) from a temporary local copy; messages name the URL."""
    import io

    suffix = image_suffix(PurePosixPath(url.name))
    if suffix in (".nhdr", ".mhd"):
        raise ReadError(
            f"{url}: a detached header ({suffix}) names a second file; from a URL only one-file volumes "
            "(.nrrd, .mha, .nii, .nii.gz) are read"
        )
    if suffix not in IMAGE_SUFFIXES:
        raise ReadError(f"{url}: unsupported file type '{suffix}'")
    affine = None
    if suffix in VOLUME_SUFFIXES:
        with local_copy(url) as local, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                image = read_image(local, spacing=spacing)
            except ReadError as exc:
                raise ReadError(renamed(str(exc), local, url)) from None
        for warning in caught:  # said as the reader said it, about the URL
            warnings.warn(renamed(str(warning.message), local, url), warning.category, stacklevel=3)
        array, stated, affine, unit = image.array, image.spacing, image.affine, image.unit
    else:
        data = read_bytes(url)
        try:
            array, stated, unit = _decode(url, io.BytesIO(data), suffix, spacing=spacing)
        except ReadError:
            raise
        except Exception as exc:  # every decoder has its own exception zoo
            reason = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", repr(str(url)), _short(exc))
            raise ReadError(f"{url}: cannot read ({reason})") from exc
    array = _check_array(url, np.asarray(array))
    return Image(array=array, spacing=stated, path=url, affine=affine, unit=unit)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _check_array(path: Path, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise ReadError(f"{path}: unsupported dtype {array.dtype}")
    if array.ndim < 2 or array.ndim > 4:
        raise ReadError(f"{path}: expected a 2D or 3D image, got shape {array.shape}")
    if array.size == 0:
        raise ReadError(f"{path}: empty array of shape {array.shape}")
    return array


def _read_tiff(
    path: Path | Url, source=None, *, read_spacing: bool = True
) -> tuple[np.ndarray, tuple[float, ...] | None, str | None]:
    """Pixels, the spacing the tags state, and its unit, from one opening of the file (``source``:
    a file object of its bytes, default the file at ``path``)."""
    import logging

    import tifffile

    # tifffile logs each corrupt tag before raising; the one-line error we raise says it all.
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    with tifffile.TiffFile(path if source is None else source) as tif:
        array = _tiff_pixels(path, tif)
        spacing = _tiff_spacing(path, tif, array.ndim) if read_spacing else None
        unit = _unit_name(_tiff_tags_unit(tif)) if spacing is not None else None
    return array, spacing, unit


def _tiff_pixels(path: Path, tif) -> np.ndarray:
    """Every page of the file: one series as it is, or equal pages stored as several series
    (tifffile reads only the first) stacked as slices; colour samples collapsed as for PNG."""
    # Reduced-resolution pages (thumbnails, pyramid levels) are previews of the image, not data.
    series = [s for s in tif.series if not s.keyframe.is_reduced]
    if not series:
        raise ReadError(f"{path}: no full-resolution image in the TIFF")
    pages = [_tiff_series_pixels(path, s) for s in series]
    if len(pages) == 1:
        return pages[0]
    shapes = sorted({page.shape for page in pages})
    if len(shapes) > 1 or pages[0].ndim != 2:
        described = ", ".join("x".join(map(str, shape)) for shape in shapes)
        raise ReadError(
            f"{path}: multi-page TIFF whose {len(pages)} images differ in shape ({described}); "
            "expected equal pages (one 2D image per slice)"
        )
    dtypes = sorted({str(page.dtype) for page in pages})
    if len(dtypes) > 1:
        raise ReadError(f"{path}: multi-page TIFF whose pages differ in type ({', '.join(dtypes)})")
    return np.stack(pages)


def _tiff_series_pixels(path: Path, series) -> np.ndarray:
    array = series.asarray()
    if "S" not in series.axes:
        return array
    # Samples of a pixel (RGB, RGBA, separate planes) are channels, never a spatial axis.
    array = np.moveaxis(array, series.axes.index("S"), -1)
    alpha = sum(1 for extra in series.keyframe.extrasamples if int(extra) in (1, 2))  # associated / unassociated alpha
    return _collapse_grey_channels(path, array, colour=max(array.shape[-1] - alpha, 1))


def _tiff_spacing(path: Path, tif, ndim: int) -> tuple[float, ...] | None:
    """Spacing from the resolution tags (pixels per unit) and ImageJ's z 'spacing'.

    Tags without a physical unit are placeholders (None); a stated spacing that is not a
    positive finite number is a ``ReadError`` naming the file and the value.
    """
    page = tif.pages[0]
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None
    unit = tags.get("ResolutionUnit")
    imagej = tif.imagej_metadata or {}
    if (unit is None or int(unit.value) == 1) and "unit" not in imagej:
        return None  # no physical unit stated: the tags are placeholders
    spacing_xy = (
        _spacing_from_resolution(path, "YResolution", *tags["YResolution"].value),
        _spacing_from_resolution(path, "XResolution", *tags["XResolution"].value),
    )
    if ndim == 2:
        return spacing_xy
    if ndim == 3 and "spacing" in imagej:
        return (_checked_spacing(path, "ImageJ metadata 'spacing'", imagej["spacing"]), *spacing_xy)
    return None


def _spacing_from_resolution(path: Path, tag: str, pixels: int, units: int) -> float:
    """A resolution tag is pixels per unit, a rational ``pixels / units``; spacing is its inverse."""
    if pixels <= 0 or units <= 0:
        raise ReadError(f"{path}: bad spacing in TIFF tag {tag}: {pixels}/{units} pixels per unit")
    return _checked_spacing(path, f"TIFF tag {tag}", units / pixels)


def _checked_spacing(path: Path, source: str, value: object) -> float:
    try:
        spacing = float(value)
    except (TypeError, ValueError):
        spacing = math.nan
    if not (math.isfinite(spacing) and spacing > 0):
        raise ReadError(f"{path}: bad spacing in {source}: {value!r}; expected a positive finite number")
    return spacing


def _read_pillow(path: Path | Url, source=None) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path if source is None else source) as img:
        img.load()
        if img.mode in ("P", "PA"):
            # Palette PNGs (VOC-style label maps) carry their labels as palette indices.
            array = np.asarray(img.convert("P") if img.mode == "PA" else img)
        else:
            array = np.asarray(img)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        warnings.warn(f"{path}: JPEG is lossy; mask values may be altered", LossyFormatWarning, stacklevel=3)
    if array.ndim == 3:
        array = _collapse_grey_channels(path, array)
    return array


def _collapse_grey_channels(path: Path, array: np.ndarray, *, colour: int | None = None) -> np.ndarray:
    """Accept images whose colour channels (the last axis) are equal: a grey mask saved as colour.

    ``colour`` is the number of colour channels before any alpha (default: 3 of RGB(A), 1 of
    grey + alpha); alpha is ignored.
    """
    if colour is None:
        colour = 3 if array.shape[-1] >= 3 else 1
    channels = array[..., :colour]
    first = channels[..., 0]
    if all(np.array_equal(first, channels[..., c]) for c in range(1, colour)):
        _check_alpha(path, first, array[..., colour:])
        return np.ascontiguousarray(first)
    kind = "colour image" if colour >= 3 else f"image of {colour} different channels"
    raise ReadError(f"{path}: {kind}; expected a single-channel mask or label map")


def _check_alpha(path: Path, grey: np.ndarray, alpha: np.ndarray) -> None:
    """Alpha is ignored, but not when it holds the only picture: one grey value everywhere and an
    alpha that varies is a mask drawn in alpha, which read as grey would be an empty (or full)
    mask without a word."""
    if alpha.size and grey.size and np.all(grey == grey.flat[0]) and np.any(alpha != alpha.flat[0]):
        raise ReadError(
            f"{path}: its colour is one value everywhere and only its alpha channel varies (a mask drawn in "
            "alpha?); save the mask as grey levels, or its alpha as the image"
        )


def _read_npz(path: Path | Url, source=None) -> np.ndarray:
    with np.load(path if source is None else source, allow_pickle=False) as archive:
        names = list(archive.files)
        if len(names) != 1:
            raise ReadError(f"{path}: expected exactly one array in the .npz, found {names}")
        return archive[names[0]]


_RESOLUTION_UNITS = {2: "inch", 3: "cm", 4: "mm", 5: "micron"}


def tiff_unit(path: Path | Url) -> str | None:
    """The length unit of a TIFF's spacing tags (ImageJ's, else the ResolutionUnit tag)."""
    import io

    import tifffile

    if image_suffix(path) not in TIFF_SUFFIXES:
        return None
    with tifffile.TiffFile(io.BytesIO(read_bytes(path)) if isinstance(path, Url) else path) as tif:
        return _tiff_tags_unit(tif)


def _tiff_tags_unit(tif) -> str | None:
    unit = (tif.imagej_metadata or {}).get("unit")
    if unit:
        return str(unit)
    tag = tif.pages[0].tags.get("ResolutionUnit")
    return _RESOLUTION_UNITS.get(int(tag.value)) if tag is not None else None


_UNIT_NAMES = {"micron": "um", "microns": "um", "micrometer": "um", "micrometers": "um", "micrometre": "um",
               "micrometres": "um", "µm": "um", "\u03bcm": "um", "\\u00b5m": "um", "um": "um",
               "mm": "mm", "millimeter": "mm", "millimeters": "mm", "millimetre": "mm", "millimetres": "mm",
               "cm": "cm", "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
               "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m", "inch": "inch",
               "inches": "inch", "in": "inch", "nm": "nm", "nanometer": "nm", "nanometers": "nm",
               "nanometre": "nm", "nanometres": "nm"}  # fmt: skip


def spacing_unit(path: Path) -> str | None:
    """The length unit of the spacing a file states: TIFF resolution unit (ImageJ's unit first),
    NIfTI ``xyzt_units``, NRRD ``space units``, MetaImage millimetres; None when the file says
    none (or cannot be read again)."""
    path = Path(path)
    suffix = image_suffix(path)
    try:
        if suffix in TIFF_SUFFIXES:
            unit = tiff_unit(path)
        elif suffix in (".nii", ".nii.gz"):
            import nibabel

            unit = nibabel.load(str(path)).header.get_xyzt_units()[0]
        elif suffix in (".nrrd", ".nhdr"):
            import nrrd

            units = nrrd.read_header(str(path)).get("space units")
            unit = units[0] if units else None
        elif suffix in (".mha", ".mhd"):
            unit = "mm"  # MetaImage spacing is in millimetres by convention
        else:
            unit = None
    except Exception:  # the unit is a label: a file that does not say it has none
        return None
    return _unit_name(unit)


def _unit_name(unit) -> str | None:
    """A unit as segcli reports it (``micron`` -> ``um``); None for none or an unknown one."""
    return _UNIT_NAMES.get(str(unit).strip().lower(), None) if unit else None
