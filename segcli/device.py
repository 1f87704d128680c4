"""Choosing where to compute, without importing torch unless a GPU is asked for.

``auto`` is the CPU: measured on an NVIDIA H200 with 16 cores, the device path (counts and
per-pixel losses on the GPU, surface distances still on the CPU workers) was 2-5x slower than
``--device cpu`` on every workload tried (1000 pairs of 512x512 with every score, with four
scores, with the soft losses; volumes of 300x512x512), so choosing the GPU automatically would
only ever make a run slower. ``cuda`` / ``cuda:N`` use it when asked, checking the NVIDIA device
files first (free) and then that torch sees CUDA.
"""

from __future__ import annotations

import re

from segcli.errors import UsageError

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda:N``; a usage error for a bad name or CUDA asked for but absent."""
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
