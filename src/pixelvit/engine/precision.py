"""Mixed precision: whether bf16 is native here, and the autocast context."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch


def bf16_is_native(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively: CUDA with bf16 support, or a CPU with AVX512-BF16/AMX.
    Elsewhere bf16 autocast is emulated and far slower than fp32 (measured: 0.9 vs 150 GFLOP/s on AVX2)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # cannot tell; trust the user's choice
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "auto" -> "bf16" where bf16 is native on ``device``, else "fp32"; "fp32" and "bf16" stay as they are."""
    if precision == "auto":
        return "bf16" if bf16_is_native(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """bf16 autocast for "bf16" (never fp16), nothing for "fp32"; "auto" is resolved first."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
