"""Which device to run on: the one resolver every command and the engine use."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; a CUDA name without CUDA is an error that says so."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name} requested but CUDA is not available; use cpu or auto")
    return device
