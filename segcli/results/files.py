"""Writing files atomically: weight maps (TIFF, medical volumes), previews (PNG) and text.

Writes go to a temporary name in the target folder and are renamed, so an interrupted run never
leaves a partial file; a character device or FIFO is written to directly, never replaced. Local
paths only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from segcli.errors import OutputError
from segcli.inputs.images import Image, image_suffix, tiff_unit
from segcli.inputs.remote import Url, local_copy
from segcli.inputs.volumes import VOLUME_SUFFIXES, output_suffix, write_volume
from segcli.results.outputs import TEXT_ERRORS, check_output_file, describe_os_error, is_stream_target


@contextlib.contextmanager
def atomic_path(target: Path, *, overwrite: bool, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    ``suffix`` ends the temporary name, for writers that choose the format by the extension.

    On any error (or Ctrl-C) the temporary file is removed and ``target`` is left untouched.
    A character device or FIFO (``/dev/null``, a named pipe) is yielded as it is and written to
    directly: nothing that is not a regular file is ever renamed over. A symbolic link to a
    regular file keeps the link and replaces the file it names.
    """
    target = check_output_file(Path(target), overwrite=overwrite)
    if is_stream_target(target):
        try:
            yield target
        except OSError as exc:  # a full or closed device: name it, not "stdout"
            raise OutputError(describe_os_error(exc, target)) from None
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial" + suffix, dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(describe_os_error(exc, target)) from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; outputs get the usual mode
        os.replace(tmp, target)
    except OSError as exc:  # disk full, read-only: one line naming the output, never "stdout"
        raise OutputError(describe_os_error(exc, target)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_tiff(
    target: Path,
    array: np.ndarray,
    *,
    overwrite: bool,
    spacing: tuple[float, ...] | None = None,
    unit: str | None = None,
) -> None:
    """Write a float32 TIFF atomically (multi-page for 3D).

    ``spacing`` (one value per axis of a 2D or 3D array) is written as ImageJ resolution tags and
    z spacing in ``unit``, read back by ``read_image`` as the same spacing; a channel stack is
    written without.
    """
    import tifffile

    array = np.asarray(array, dtype=np.float32)
    with atomic_path(target, overwrite=overwrite) as tmp:
        if spacing is None or len(spacing) not in (2, 3) or array.ndim != len(spacing):
            tifffile.imwrite(tmp, array, photometric="minisblack")
            return
        metadata = {"axes": "ZYX" if array.ndim == 3 else "YX", "unit": unit or "pixel"}
        if array.ndim == 3:
            metadata["spacing"] = spacing[0]
        tifffile.imwrite(
            tmp,
            array,
            imagej=True,
            resolution=(1 / spacing[-1], 1 / spacing[-2]),
            metadata=metadata,
        )


def map_target_suffix(source: Path) -> str:
    """The extension of a map written for ``source``: a medical volume keeps its format (as one
    file), every other image becomes a TIFF."""
    suffix = image_suffix(source)
    return output_suffix(suffix) if suffix in VOLUME_SUFFIXES else ".tif"


def write_volume_map(target: Path, array: np.ndarray, *, source: Image, overwrite: bool) -> None:
    """Write a float32 map atomically as a medical volume (the format of ``target``'s extension)
    with the geometry of the file ``source`` was read from."""
    suffix = image_suffix(target)
    with contextlib.ExitStack() as stack:
        like = source.path
        if isinstance(like, Url):  # the writers copy the geometry from a local file
            like = stack.enter_context(local_copy(like))
        tmp = stack.enter_context(atomic_path(target, overwrite=overwrite, suffix=suffix))
        write_volume(tmp, array, like, suffix, source.array.ndim)


def tiff_tags(source: Image) -> dict:
    """The ``write_tiff`` keywords that keep the spacing (and unit) ``source`` stated; none when
    it stated none."""
    if source.spacing is None:
        return {}
    return {"spacing": source.spacing, "unit": tiff_unit(source.path)}


def write_png(target: Path, rgb: np.ndarray, *, overwrite: bool) -> None:
    """Write an 8-bit RGB PNG atomically."""
    from PIL import Image as PILImage

    with atomic_path(target, overwrite=overwrite) as tmp:
        PILImage.fromarray(rgb).save(tmp, format="PNG")


def write_text(target: Path, text: str, *, overwrite: bool) -> None:
    """Write a UTF-8 text file atomically (a name that is not UTF-8 keeps its own bytes)."""
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8", errors=TEXT_ERRORS)
