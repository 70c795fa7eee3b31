"""Which device to run on: the one resolver every command and the engine use."""

from __future__ import annotations

import torch

from ..config import ConfigError


def resolve_device(name: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; a CUDA name without CUDA is an error that says so."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name} requested but CUDA is not available on this machine; use cpu or auto")
    return device


def device_text(device: torch.device) -> str:
    """A device as provenance records it: ``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
