"""Choosing where to compute, without importing torch unless a GPU may be used.

``cpu`` is the CPU; ``cuda`` / ``cuda:N`` use that GPU when asked, checking that torch sees it.
``auto`` picks ``cuda:0`` only where the device path is expected to win, and the CPU otherwise.
The rule, in order (the first that fails means the CPU):

1. an NVIDIA device file exists (``/dev/nvidiactl`` or ``/dev/nvidia0``): a free check, so that a
   machine without a GPU never imports torch;
2. the run takes the device path: binary scoring on this machine, without ``--thresholds``,
   raters or a cluster;
3. it asks for a surface score (hd, hd95, hd95_pooled, assd, masd, nsd, boundary_iou) or a
   distance-map loss (distmap_bce, boundary_loss, or a preset holding one): the exact transforms
   are what a GPU does far faster than the CPU. Region scores and per-pixel losses alone were
   measured 2-5x slower on an H200 than on its 16 cores (decoding the files bounds them, and the
   GPU adds torch's import and CUDA's start);
4. the run is large enough per CPU worker, ``pairs x pixels / workers`` (the pixels of the first
   ground truth, read from its header) at least ``AUTO_CUDA_PIXELS_PER_WORKER`` of its
   dimension: below it, the GPU's fixed start costs more than the CPU workers' distance work;
5. torch imports and sees CUDA.

A resumed run (``--resume``) continues on the device its settings record names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from segcli.errors import UsageError

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

NVIDIA_DEVICE_FILES = (Path("/dev/nvidiactl"), Path("/dev/nvidia0"))

# Pixels per CPU worker from which auto picks the GPU, by image dimension. Not yet measured on a
# GPU with the device surface path (``python -m benchmarks.bench_gpu`` measures it): set from the
# CPU path's cost of the surface scores (about 50-270 ns per pixel and core, 2-D and 3-D) against
# about 2 s of fixed GPU start (torch's import, CUDA's context). At 16 workers: about 9,000
# pairs of 512x512, or two volumes of 300x512x512.
AUTO_CUDA_PIXELS_PER_WORKER = {2: 150_000_000, 3: 10_000_000}

# The losses whose maps are exact distance transforms of the GT (a preset holding one counts).
DISTANCE_LOSSES = ("distmap_bce", "boundary_loss")


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda:N``; a usage error for a bad name or CUDA asked for but absent. ``auto``
    without a run to judge is the CPU (``auto_device`` judges a run).

    >>> resolve_device("auto")
    'cpu'
    """
    if not _DEVICE.match(device):
        raise UsageError(f"--device: expected auto, cpu, cuda or cuda:N, got {device!r}")
    if device in ("cpu", "auto"):
        return "cpu"
    try:
        import torch
    except ImportError:
        raise UsageError(f"--device {device}: needs torch; install the extra: pip install 'segcli[gpu]'") from None
    if not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise UsageError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s)")
    return f"cuda:{index}"


def nvidia_present() -> bool:
    """True when an NVIDIA device file exists (no import, no driver call)."""
    return any(path.exists() for path in NVIDIA_DEVICE_FILES)


def needs_distances(metrics: Sequence[str]) -> bool:
    """True when a score of ``metrics`` is a surface score or a distance-map loss (or a preset
    holding one): the work the device path does far faster.

    >>> needs_distances(["dice", "hd95"]), needs_distances(["dice", "bce"])
    (True, False)
    """
    from segcli.scores.table import BY_NAME, PRESETS

    for name in metrics:
        if name in DISTANCE_LOSSES or (name in BY_NAME and BY_NAME[name].group == "surface"):
            return True
        if any(component in DISTANCE_LOSSES for _, component in PRESETS.get(name, ())):
            return True
    return False


def gpu_pays(metrics: Sequence[str], *, pairs: int, pixels: int, ndim: int, workers: int) -> bool:
    """Rules 3 and 4 of the module: distance work, and ``pairs x pixels / workers`` at least
    ``AUTO_CUDA_PIXELS_PER_WORKER[ndim]``.

    >>> gpu_pays(["hd95"], pairs=20, pixels=300 * 512 * 512, ndim=3, workers=16)
    True
    >>> gpu_pays(["hd95"], pairs=1, pixels=512 * 512, ndim=2, workers=16)
    False
    """
    if pairs < 1 or pixels < 1 or workers < 1:
        raise ValueError(f"pairs, pixels and workers: expected >= 1, got {pairs}, {pixels}, {workers}")
    if ndim not in AUTO_CUDA_PIXELS_PER_WORKER:
        raise ValueError(f"ndim: expected 2 or 3, got {ndim}")
    return needs_distances(metrics) and pairs * pixels / workers >= AUTO_CUDA_PIXELS_PER_WORKER[ndim]


def auto_device(
    metrics: Sequence[str],
    ground_truths: Sequence[Path],
    *,
    workers: int,
    device_path: bool = True,
    journal: Path | None = None,
) -> str:
    """The device ``--device auto`` runs on: ``cuda:0`` when every rule of the module holds,
    else ``cpu``. ``ground_truths``: the run's GT files (the first one's header gives the pixel
    count); ``device_path``: whether the run may take the device path at all (rule 2);
    ``journal``: a resumed run's journal, whose recorded device wins where it is usable here."""
    if workers < 1:
        raise ValueError(f"workers: expected >= 1, got {workers}")
    recorded = recorded_device(journal) if journal is not None else None
    if recorded is not None and nvidia_present():  # without one the rule below says cpu, as "cpu" does
        try:
            return resolve_device(recorded)
        except UsageError:  # that GPU is not here: the rule decides
            pass
    if not nvidia_present() or not device_path or not ground_truths or not needs_distances(metrics):
        return "cpu"
    shape = image_shape(Path(ground_truths[0]))
    if shape is None or len(shape) not in (2, 3):
        return "cpu"
    if not gpu_pays(metrics, pairs=len(ground_truths), pixels=math.prod(shape), ndim=len(shape), workers=workers):
        return "cpu"
    try:
        return resolve_device("cuda")
    except UsageError:  # no torch, or no CUDA it can use
        return "cpu"


def image_shape(path: Path) -> tuple[int, ...] | None:
    """An image's spatial shape from its header, without decoding its pixels; None where the
    format or the file does not say (the auto rule then keeps the CPU)."""
    from segcli.inputs.images import image_suffix

    suffix = image_suffix(path)
    try:
        if suffix in (".png", ".bmp", ".jpg", ".jpeg"):
            from PIL import Image

            with Image.open(path) as image:
                return (image.height, image.width)
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                shape = tuple(tif.series[0].shape)
            return shape if len(shape) == 2 or (len(shape) == 3 and shape[-1] > 4) else shape[:2]
        if suffix == ".npy":
            import numpy as np

            return tuple(np.load(path, mmap_mode="r").shape)  # pragma: no mutate (mmap: the header alone, same shape)
        if suffix in (".nii", ".nii.gz"):
            import nibabel

            return tuple(nibabel.load(path).shape)[:3]  # a 4-D series: its first volume's shape
        if suffix in (".nrrd", ".nhdr"):
            import nrrd

            return tuple(int(n) for n in nrrd.read_header(str(path))["sizes"])
    except Exception:  # an unreadable header: the run reports the file; the rule keeps the CPU
        return None
    return None


def recorded_device(journal: Path) -> str | None:
    """The device an interrupted run's journal (``FILE.partial``) records, or None."""
    import json

    try:
        with open(journal, encoding="utf-8") as stream:  # pragma: no mutate (the test locale is UTF-8 already)
            header = json.loads(stream.readline())
    except (OSError, ValueError):
        return None
    device = header.get("settings", {}).get("device") if isinstance(header, dict) else None
    return device if isinstance(device, str) and _DEVICE.match(device) else None
