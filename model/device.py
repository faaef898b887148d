"""Which torch device a run uses, from the `train.device` / `--device` name (imports torch only)."""
from __future__ import annotations

import torch

from core.errors import UserError


class DeviceError(UserError):
    """The device asked for does not exist on this machine; `str()` is the one-line message."""


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else as torch reads it; DeviceError when it is not here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"device is {name!r}, but must be cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device is {name!r}, but no CUDA device is available: use --device cpu "
                          "(train.device: cpu) or run on a machine with a GPU")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"device is {name!r}, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
