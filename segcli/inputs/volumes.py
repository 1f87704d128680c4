"""Medical volumes: NIfTI (nibabel), NRRD (pynrrd) and MetaImage (SimpleITK, the ``medical`` extra).

One convention for every format: the array's axes are the file's index axes reversed (k, j, i:
slices first, as a multi-page TIFF, SimpleITK's arrays and nnU-Net's), so a NIfTI of shape
512x512x300 is read as an array of shape (300, 512, 512), C-contiguous without a copy. The
spacing is in the array's axis order, and ``affine`` maps array indices to world coordinates in
millimetres, RAS+ as nibabel's affine (SimpleITK's and NRRD's LPS are converted), so two files
of different formats can be compared (``segcli.inputs.spacing`` compares them). Writing a map
"like" an input keeps its geometry.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcli.errors import ReadError
from segcli.inputs.regular import not_regular

NIFTI_SUFFIXES = (".nii", ".nii.gz")
NRRD_SUFFIXES = (".nrrd", ".nhdr")
METAIMAGE_SUFFIXES = (".mha", ".mhd")
VOLUME_SUFFIXES = NIFTI_SUFFIXES + NRRD_SUFFIXES + METAIMAGE_SUFFIXES
MEDICAL_EXTRA = "pip install 'segcli[medical]'"

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Volume:
    array: np.ndarray
    spacing: tuple[float, ...] | None
    affine: np.ndarray | None  # 4x4: (array index, 1) -> (RAS+ mm, 1); None when not read


def read_volume(path: Path, suffix: str, *, spacing: bool = True) -> Volume:
    """Read one NIfTI, NRRD or MetaImage file; ``spacing=False`` reads neither spacing nor affine.

    A detached header (``.nhdr``, ``.mhd``) is checked before its data file is opened
    (``check_detached``)."""
    if suffix in DETACHED_SUFFIXES:
        check_detached(path, suffix)
    if suffix in NIFTI_SUFFIXES:
        return _read_nifti(path, spacing)
    if suffix in NRRD_SUFFIXES:
        return _read_nrrd(path, spacing)
    return _read_metaimage(path, spacing)


DETACHED_SUFFIXES = (".nhdr", ".mhd")


def check_detached(path: Path, suffix: str) -> None:
    """The data files a detached header names must be regular files named relative to the header:
    an absolute path (``data file: /etc/passwd``) would make the header read any file on the
    machine, and a FIFO or device would hang the read or never end it. ``ReadError`` naming the
    header and the path otherwise; an inline data file (MetaImage ``LOCAL``) needs no check."""
    for name in _detached_names(path, suffix):
        if Path(name).is_absolute():
            raise ReadError(f"{path}: its data file {name} is an absolute path; name it relative to the header")
        target = path.parent / name
        if not_regular(target) is not None:  # a missing one: the reader's own message names it
            raise ReadError(f"{path}: its data file {target} is not a regular file")


def _detached_names(path: Path, suffix: str) -> list[str]:
    """The data file names a ``.nhdr`` or ``.mhd`` header gives (none for inline data)."""
    if suffix == ".nhdr":
        import nrrd

        header = nrrd.read_header(str(path))
        name = header.get("data file", header.get("datafile"))
        return [] if name is None else [str(name)]
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for index, line in enumerate(lines):
        key, _, value = line.partition("=")
        if key.strip().lower() == "elementdatafile":
            value = value.strip()
            if value.upper() == "LOCAL":
                return []
            if value.upper().startswith("LIST"):
                return [token for rest in lines[index + 1 :] for token in rest.split()]
            return [value.split()[0]] if "%" in value else [value]
    return []


def _spatial(path: Path, shape: tuple[int, ...], kind: str) -> tuple[int, ...]:
    """The spatial shape: axes past the third must have size 1 (a 4-D file of one volume)."""
    if len(shape) > 3:
        if any(size != 1 for size in shape[3:]):
            raise ReadError(
                f"{path}: {len(shape)}-D {kind} of shape {'x'.join(map(str, shape))}; expected a 3-D volume "
                "(axes past the third must have size 1)"
            )
        shape = shape[:3]
    return shape


def _checked(path: Path, source: str, values) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    for value in values:
        if not (math.isfinite(value) and value > 0):
            shown = ",".join(f"{v:g}" for v in values)
            raise ReadError(f"{path}: bad spacing in {source}: {shown}; expected positive finite numbers")
    return values


def _array_affine(path: Path, columns: np.ndarray, origin: np.ndarray, ndim: int) -> np.ndarray:
    """The 4x4 affine of the array, from the file's axis vectors (RAS, one column per file axis,
    spacing included) and origin; array axis a is file axis ndim-1-a."""
    affine = np.eye(4)
    filled = np.zeros((3, 3))
    filled[:, : columns.shape[1]] = columns
    affine[:3, :ndim] = filled[:, :ndim][:, ::-1]
    affine[:3, ndim:3] = filled[:, ndim:3]
    affine[:3, 3] = origin
    if not np.all(np.isfinite(affine)):
        raise ReadError(f"{path}: the header's orientation or origin is not finite")
    return affine


def _read_nifti(path: Path, read_geometry: bool) -> Volume:
    import nibabel as nib

    logging.getLogger("nibabel.global").setLevel(logging.CRITICAL)  # its fixes are ours to say
    image = nib.load(path)
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise ReadError(f"{path}: not a NIfTI image")
    shape = _spatial(path, tuple(int(s) for s in image.shape), "NIfTI")
    data = np.asanyarray(image.dataobj).reshape(shape, order="F")
    array = data.T
    if not read_geometry:
        return Volume(array, None, None)
    ndim = len(shape)
    # pixdim is float32: its shortest decimal (0.8, not 0.800000011920929) is the value written.
    zooms = _checked(path, "NIfTI pixdim", [str(np.float32(v)) for v in _raw_pixdim(path, image)[:ndim]])
    affine = np.asarray(image.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)):
        raise ReadError(f"{path}: the NIfTI affine (qform/sform) is not finite")
    return Volume(array, zooms[::-1], _array_affine(path, affine[:3, :ndim], affine[:3, 3], ndim))


def _raw_pixdim(path: Path, image) -> np.ndarray:
    """pixdim[1:] as the file states it: nibabel's load replaces 0 by 1 and a negative value by
    its absolute value (logging it), which would score a broken header as if it were sound."""
    from nibabel.openers import ImageOpener

    with ImageOpener(path) as stream:
        header = type(image.header).from_fileobj(stream, check=False)
    pixdim = np.asarray(header["pixdim"][1:], dtype=np.float64)
    if np.any(pixdim < 0):  # only the sign is off: ITK and nibabel read it as positive; said
        warnings.warn(f"{path}: negative NIfTI pixdim {_join(pixdim[:3])} read as its absolute value", stacklevel=4)
    return np.abs(pixdim)


_NRRD_SPACES = {
    "left-posterior-superior": _LPS_TO_RAS,
    "lps": _LPS_TO_RAS,
    "left-anterior-superior": np.diag([-1.0, 1.0, 1.0]),
    "las": np.diag([-1.0, 1.0, 1.0]),
}


def _read_nrrd(path: Path, read_geometry: bool) -> Volume:
    import nrrd

    data, header = nrrd.read(str(path), index_order="C")
    file_shape = tuple(int(s) for s in header["sizes"])
    directions = header.get("space directions")
    spatial_axes = list(range(len(file_shape)))
    if directions is not None:
        spatial_axes = [i for i, row in enumerate(np.asarray(directions, dtype=float)) if not np.all(np.isnan(row))]
    others = [i for i in range(len(file_shape)) if i not in spatial_axes]
    if any(file_shape[i] != 1 for i in others) or len(spatial_axes) > 3:
        raise ReadError(
            f"{path}: {len(file_shape)}-D NRRD of sizes {'x'.join(map(str, file_shape))}; expected a 3-D volume "
            "(a non-spatial axis must have size 1)"
        )
    keep = [len(file_shape) - 1 - i for i in spatial_axes]  # array axes are the file axes reversed
    array = data.reshape([data.shape[a] for a in sorted(keep)])
    if not read_geometry:
        return Volume(array, None, None)
    ndim = array.ndim
    if directions is None:
        if "spacings" not in header:
            return Volume(array, None, None)
        spacing = _checked(path, "NRRD spacings", header["spacings"][:ndim])
        return Volume(array, spacing[::-1], None)
    vectors = np.asarray(directions, dtype=float)[spatial_axes].T  # one column per file axis
    spacing = _checked(path, "NRRD space directions", np.linalg.norm(vectors, axis=0))
    flip = _NRRD_SPACES.get(str(header.get("space", "")).lower(), np.eye(3))
    world = np.zeros((3, vectors.shape[1]))
    world[: vectors.shape[0]] = vectors
    origin = np.zeros(3)
    if "space origin" in header:
        stated = np.asarray(header["space origin"], dtype=float)
        origin[: stated.size] = stated
    return Volume(array, spacing[::-1], _array_affine(path, flip @ world, flip @ origin, ndim))


def _sitk():
    try:
        import SimpleITK
    except ImportError:
        return None
    return SimpleITK


def _read_metaimage(path: Path, read_geometry: bool) -> Volume:
    sitk = _sitk()
    if sitk is None:
        raise ReadError(f"{path}: reading MetaImage (.mha/.mhd) needs SimpleITK: {MEDICAL_EXTRA}")
    reader = sitk.ImageFileReader()
    reader.SetImageIO("MetaImageIO")
    reader.SetFileName(str(path))
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise ReadError(f"{path}: cannot read ({_sitk_reason(exc)})") from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ReadError(f"{path}: {image.GetNumberOfComponentsPerPixel()} components per voxel; expected one")
    file_shape = tuple(int(s) for s in image.GetSize())
    shape = _spatial(path, file_shape, "MetaImage")
    array = sitk.GetArrayFromImage(image).reshape(shape[::-1])
    if not read_geometry:
        return Volume(array, None, None)
    ndim = len(shape)
    file_dim = len(file_shape)
    spacing = _checked(path, "MetaImage ElementSpacing", image.GetSpacing()[:ndim])
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(file_dim, file_dim)[:ndim, :ndim]
    lps = np.zeros((3, ndim))
    lps[:ndim, :ndim] = direction * np.asarray(spacing)
    origin = np.zeros(3)
    origin[:ndim] = np.asarray(image.GetOrigin(), dtype=float)[:ndim]
    return Volume(array, spacing[::-1], _array_affine(path, _LPS_TO_RAS @ lps, _LPS_TO_RAS @ origin, ndim))


def _sitk_reason(exc: Exception) -> str:
    """SimpleITK's message without the C++ source location: ITK's error and the system's reason
    (``Reason: Success`` says nothing and is dropped)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    error = next((line.split("): ", 1)[-1] for line in lines if "ITK ERROR" in line), lines[-1] if lines else "")
    reason = next((line[len("Reason: ") :] for line in lines if line.startswith("Reason: ")), "Success")
    text = error.rstrip(".") + ("" if reason == "Success" else f": {reason}")
    return (text or type(exc).__name__)[:200]


def _join(values) -> str:
    return ",".join(f"{float(v) + 0.0:.6g}" for v in values)  # + 0.0: no "-0"


def output_suffix(suffix: str) -> str:
    """The suffix of a map written for an input of this suffix: the same format, in one file."""
    return {".nhdr": ".nrrd", ".mhd": ".mha"}.get(suffix, suffix)


def write_volume(tmp: Path, array: np.ndarray, like: Path, suffix: str, ndim: int) -> None:
    """Write ``array`` (float32; the ``ndim`` array axes of the file ``like``, or a channel axis
    and those) to ``tmp`` in the format of ``suffix`` with the geometry of ``like``."""
    array = np.asarray(array, dtype=np.float32)
    if suffix in NIFTI_SUFFIXES:
        _write_nifti(tmp, array, like, ndim)
    elif suffix in NRRD_SUFFIXES:
        _write_nrrd(tmp, array, like, ndim)
    else:
        _write_metaimage(tmp, array, like, ndim)


def _spatial_and_channels(array: np.ndarray, ndim: int) -> tuple[np.ndarray, bool]:
    """The array with a channel axis (if any) moved last, as the formats store it."""
    if array.ndim == ndim:
        return array, False
    return np.moveaxis(array, 0, -1), True


def _write_nifti(tmp: Path, array: np.ndarray, like: Path, ndim: int) -> None:
    import nibabel as nib

    source = nib.load(like)
    data, channels = _spatial_and_channels(array, ndim)
    spatial = np.transpose(data, tuple(range(ndim))[::-1] + ((ndim,) if channels else ()))
    if channels and ndim < 3:
        spatial = spatial.reshape(spatial.shape[:ndim] + (1,) * (3 - ndim) + spatial.shape[-1:])
    header = source.header.copy()
    header.set_data_dtype(np.float32)
    image = type(source)(np.asfortranarray(spatial), source.affine, header)
    image.header.set_slope_inter(1.0, 0.0)
    image.set_qform(source.get_qform(), code=int(source.header["qform_code"]))
    image.set_sform(source.get_sform(), code=int(source.header["sform_code"]))
    nib.save(image, tmp)


def _write_nrrd(tmp: Path, array: np.ndarray, like: Path, ndim: int) -> None:
    import nrrd

    source = nrrd.read_header(str(like))
    data, channels = _spatial_and_channels(array, ndim)
    header = {k: source[k] for k in ("space", "space origin") if k in source}
    if "spacings" in source:
        header["spacings"] = np.asarray(list(source["spacings"][:ndim]) + ([np.nan] if channels else []))
    if "space directions" in source:
        rows = [row for row in np.asarray(source["space directions"], dtype=float) if not np.all(np.isnan(row))]
        header["space directions"] = np.asarray(rows + ([[np.nan] * len(rows[0])] if channels else []))
    header["kinds"] = ["domain"] * ndim + (["list"] if channels else [])
    header["encoding"] = "gzip"
    if channels:
        data = np.moveaxis(data, -1, 0)  # C order: the channel becomes the last (slowest) file axis
    nrrd.write(str(tmp), np.ascontiguousarray(data), header, index_order="C")


def _write_metaimage(tmp: Path, array: np.ndarray, like: Path, ndim: int) -> None:
    sitk = _sitk()
    if sitk is None:
        raise ReadError(f"{like}: writing MetaImage (.mha) needs SimpleITK: {MEDICAL_EXTRA}")
    reader = sitk.ImageFileReader()
    reader.SetImageIO("MetaImageIO")
    reader.SetFileName(str(like))
    reader.ReadImageInformation()
    data, channels = _spatial_and_channels(array, ndim)
    image = sitk.GetImageFromArray(np.ascontiguousarray(data), isVector=channels)
    file_dim = reader.GetDimension()
    direction = np.asarray(reader.GetDirection(), dtype=float).reshape(file_dim, file_dim)[:ndim, :ndim]
    image.SetSpacing(reader.GetSpacing()[:ndim])
    image.SetOrigin(reader.GetOrigin()[:ndim])
    image.SetDirection(tuple(direction.ravel()))
    writer = sitk.ImageFileWriter()
    writer.SetImageIO("MetaImageIO")
    writer.SetFileName(str(tmp))
    writer.SetUseCompression(True)
    writer.Execute(image)
