"""Choosing where to compute, without importing torch unless a GPU can be used.

``auto`` checks for the NVIDIA device files first (free), and only then imports torch to confirm
CUDA works; CPU-only machines never pay torch's import time.
"""

from __future__ import annotations

import os
import re

from segcli.errors import UsageError

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def cuda_may_exist() -> bool:
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0")


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda:N``; a usage error for a bad name or CUDA asked for but absent."""
    if not _DEVICE.match(device):
        raise UsageError(f"--device: expected auto, cpu, cuda or cuda:N, got {device!r}")
    if device == "cpu" or (device == "auto" and not cuda_may_exist()):
        return "cpu"
    try:
        import torch
    except ImportError:
        if device == "auto":
            return "cpu"
        raise UsageError(f"--device {device}: needs torch; install the extra: pip install 'segcli[gpu]'") from None
    if not torch.cuda.is_available():
        if device == "auto":
            return "cpu"
        raise UsageError(f"--device {device}: CUDA is not available on this machine")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise UsageError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s)")
    return f"cuda:{index}"
