"""Finding image files and matching predictions to ground truth.

Roots are local paths or fsspec URLs (``segcli.inputs.remote``). Files are keyed by their path relative
to the root given, without extension (both parts of ``.nii.gz``) and without the optional suffix
(nnU-Net's ``_0000``). A prediction and a ground truth with the same key form a
pair. Unmatched files are an error unless the caller asks to skip them or score them as empty.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from segcli.errors import PairingError, UsageError, option
from segcli.inputs.images import IMAGE_SUFFIXES, image_stem, image_suffix, is_image_file
from segcli.inputs.remote import Url, as_input, list_files
from segcli.settings import default

MissingPolicy = Literal["error", "skip", "empty"]


@dataclass(frozen=True)
class Pair:
    """One prediction / ground-truth pair. ``pred`` is None for a missing prediction scored as empty."""

    name: str
    pred: Path | Url | None  # a local path, or an fsspec URL (segcli.inputs.remote)
    gt: Path | Url
    raters: tuple[Path | Url, ...] = ()  # further ground truths of the same case (--rater), in order


@dataclass(frozen=True)
class Pairing:
    pairs: list[Pair]
    unmatched_pred: list[Path | Url]
    unmatched_gt: list[Path | Url]


def find_images(root: Path | Url | str, *, suffix: str = "") -> dict[str, Path | Url]:
    """Map each image under ``root`` (a file or a directory, searched recursively through symbolic
    links to directories, see ``_walk_local``; a path or an fsspec URL) to its key."""
    return _find(as_input(root), suffix)[1]


def _find(root: Path | Url, suffix: str) -> tuple[bool, dict[str, Path | Url]]:
    """(whether ``root`` is one file, ``find_images`` of it)."""
    if isinstance(root, Url):
        return _find_at_url(root, suffix)
    return root.is_file(), _find_local(root, suffix)


def _find_local(root: Path, suffix: str) -> dict[str, Path]:
    if not root.exists():
        if root.is_symlink():
            raise UsageError(f"{root}: a symbolic link that leads nowhere (broken, or a loop)")
        raise UsageError(f"{root}: no such file or directory")
    if root.is_file():
        if not is_image_file(root):
            raise UsageError(f"{root}: not a supported image file")
        return {_key(Path(root.name), suffix): root}
    found: dict[str, Path] = {}
    for relative, path, extension in _walk_local(root):
        key = relative[: len(relative) - len(extension)]
        if suffix and key.endswith(suffix):
            key = key[: -len(suffix)]
        if key in found:
            raise UsageError(f"{path}: same name as {found[key]} once the extension is removed")
        found[key] = Path(path)
    if not found:
        raise UsageError(f"{root}: no image files found (TIFF, PNG, BMP, JPEG, NPY, NPZ, NIfTI, NRRD, MHA/MHD)")
    return found


def _walk_local(root: Path) -> Iterator[tuple[str, str, str]]:
    """(path relative to ``root`` with ``/``, path as ``root`` joined with it, image extension) of
    every visible image file under the directory ``root``, in sorted order (by path components).

    Walks like ``find -L``: a symbolic link to a directory is followed, and what lies under it is
    keyed by its path as seen under ``root`` (``site1/c0`` for ``root/site1 -> ../real``). Hidden
    files and folders (a name starting with ``.``) are skipped, never read. Each of these is a
    ``UsageError`` naming the path, raised before any file is read:

    - a directory that cannot be listed (permissions): its files are never dropped silently;
    - a symbolic link loop: a directory whose (``st_dev``, ``st_ino``) is already on the path
      from ``root`` down to it (``site1/back -> ..``) is refused, not skipped, so the walk always
      ends; two links to one folder side by side are no loop, and each is searched;
    - an entry named like an image that is not a regular file (a FIFO, a broken or looping
      symbolic link), or one whose type cannot be examined.
    """
    top = os.fspath(root)
    on_path = {_identity(top, lambda: os.stat(top)): top}  # the directories from root down to the one listed
    frames = [(top, "", iter(_listing(top)), next(iter(on_path)))]
    while frames:
        directory, prefix, entries, identity = frames[-1]
        entry = next(entries, None)
        if entry is None:
            frames.pop()
            del on_path[identity]
            continue
        relative = prefix + entry.name
        extension = _image_extension(entry.name)
        if extension and _examine(entry, entry.is_file):
            yield relative, entry.path, extension
            continue
        if _examine(entry, entry.is_dir):
            identity = _identity(entry.path, entry.stat)
            if identity in on_path:
                raise UsageError(
                    f"{entry.path}: the same directory as {on_path[identity]}, which holds it (a symbolic link "
                    "loop); remove the link: a directory is never searched inside itself"
                )
            on_path[identity] = entry.path
            frames.append((entry.path, relative + "/", iter(_listing(entry.path)), identity))
        elif extension:
            broken = entry.is_symlink() and not os.path.exists(entry.path)
            what = "a broken symbolic link" if broken else "not a regular file"
            raise UsageError(f"{entry.path}: {what}; an image name that cannot be read is never skipped silently")


def _listing(directory: str) -> list[os.DirEntry]:
    """The visible entries of ``directory`` by name; one that cannot be listed is a ``UsageError``."""
    try:
        with os.scandir(directory) as listing:
            entries = [entry for entry in listing if not entry.name.startswith(".")]
    except OSError as exc:
        raise UsageError(
            f"{directory}: cannot list this directory ({exc.strerror or exc}); its files are never skipped silently"
        ) from None
    entries.sort(key=lambda entry: entry.name)
    return entries


def _identity(path: str, stat: Callable[[], os.stat_result]) -> tuple[int, int]:
    """(``st_dev``, ``st_ino``) of the directory at ``path`` from its ``stat``."""
    try:
        result = stat()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be examined ({exc.strerror or exc})") from None
    return result.st_dev, result.st_ino


def _examine(entry: os.DirEntry, test: Callable[[], bool]) -> bool:
    """``entry.is_file()`` or ``entry.is_dir()`` through symbolic links: False for a broken or
    looping link, a ``UsageError`` when the type cannot be learnt (a target behind a folder
    without permission)."""
    try:
        return test()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return False
        raise UsageError(f"{entry.path}: cannot be examined ({exc.strerror or exc})") from None


def _image_extension(name: str) -> str:
    """``image_suffix`` of a file name when it is an image extension, else ``""``."""
    extension = image_suffix(PurePosixPath(name))
    return extension if extension in IMAGE_SUFFIXES else ""


def _find_at_url(root: Url, suffix: str) -> tuple[bool, dict[str, Url]]:
    """``_find`` of a URL: the rules of a local directory on the listing of its file system."""
    single, files = list_files(root)
    if single:
        if image_suffix(PurePosixPath(root.name)) not in IMAGE_SUFFIXES:
            raise UsageError(f"{root}: not a supported image file")
        return True, {_key(PurePosixPath(root.name), suffix): root}
    found: dict[str, Url] = {}
    for name, url in files.items():
        relative = PurePosixPath(name)
        if any(part.startswith(".") for part in relative.parts) or image_suffix(relative) not in IMAGE_SUFFIXES:
            continue
        key = _key(relative, suffix)
        if key in found:
            raise UsageError(f"{url}: same name as {found[key]} once the extension is removed")
        found[key] = url
    if not found:
        raise UsageError(f"{root}: no image files found (TIFF, PNG, BMP, JPEG, NPY, NPZ, NIfTI, NRRD, MHA/MHD)")
    return False, found


def _key(relative: PurePosixPath, suffix: str) -> str:
    stem = image_stem(relative).as_posix()
    if suffix and stem.endswith(suffix):
        stem = stem[: -len(suffix)]
    return stem


def pair_files(
    pred_root: Path | Url | str,
    gt_root: Path | Url | str,
    *,
    pred_suffix: str = default("pred_suffix"),
    gt_suffix: str = default("gt_suffix"),
    missing: MissingPolicy = default("missing"),
) -> Pairing:
    """Match predictions to ground truth by key.

    ``missing``: ``error`` raises ``PairingError`` listing every unmatched file; ``skip`` leaves
    unmatched files out (the caller reports them); ``empty`` scores a ground truth without a
    prediction against an empty prediction and leaves predictions without ground truth out.
    """
    if missing not in ("error", "skip", "empty"):
        raise UsageError(f"{option('missing')}: expected error, skip or empty, got {missing!r}")
    pred_single, preds = _find(as_input(pred_root), pred_suffix)
    gt_single, gts = _find(as_input(gt_root), gt_suffix)
    if pred_single and gt_single:
        # Two single files are a pair whatever their names.
        return Pairing([Pair(next(iter(gts)), next(iter(preds.values())), next(iter(gts.values())))], [], [])
    unmatched_pred = [preds[k] for k in sorted(preds.keys() - gts.keys())]
    unmatched_gt = [gts[k] for k in sorted(gts.keys() - preds.keys())]
    if missing == "error" and (unmatched_pred or unmatched_gt):
        lines = [f"prediction without ground truth: {p}" for p in unmatched_pred]
        lines += [f"ground truth without prediction: {g}" for g in unmatched_gt]
        raise PairingError(f"{len(lines)} unmatched file(s) (use {option('missing')} skip|empty): " + "; ".join(lines))
    pairs = [Pair(k, preds[k], gts[k]) for k in sorted(preds.keys() & gts.keys())]
    if missing == "empty":
        pairs += [Pair(k, None, gts[k]) for k in sorted(gts.keys() - preds.keys())]
        pairs.sort(key=lambda pair: pair.name)
    if not pairs:
        raise PairingError(f"no prediction in {pred_root} matches a ground truth in {gt_root}")
    return Pairing(pairs, unmatched_pred, unmatched_gt)
