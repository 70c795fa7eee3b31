"""Measurements: step time (median after warm-up), FLOPs, matmul peak, peak memory."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_flops(fn: Callable[[], None]) -> int:
    """FLOPs of one call of ``fn`` (matmuls, convolutions and attention, as FlopCounterMode counts them)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Achieved FLOP/s of an n×n×n matmul in ``dtype`` on ``device`` (the reference for efficiency)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = median_time(lambda: a @ b, device, warmup=2, repeats=repeats)
    return 2 * n**3 / seconds


def shape_ceiling(device: torch.device, dtype: torch.dtype, rows: int, width: int, repeats: int = 3) -> float:
    """Achieved FLOP/s of a Transformer block's own matmuls: (rows × D) @ (D × 3D) (qkv) and (rows × D) @ (D × 4D)
    (MLP), rows = B·L, in ``dtype``: their FLOPs over their summed median times (the reachable limit at this width)."""
    a = torch.randn(rows, width, device=device, dtype=dtype)
    total_flops, total_seconds = 0.0, 0.0
    for out in (3 * width, 4 * width):
        w = torch.randn(width, out, device=device, dtype=dtype)
        total_seconds += median_time(lambda w=w: a @ w, device, warmup=1, repeats=repeats)
        total_flops += 2 * rows * width * out
    return total_flops / total_seconds


class PeakMemory:
    """Peak memory of a block: CUDA max allocated, or on Linux CPUs the process's resident-set high
    water mark (``VmHWM``, reset through ``/proc/self/clear_refs``) minus the resident set at entry."""

    def __init__(self, device: torch.device):
        self.device = device
        self.bytes: int | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._base = _reset_rss_peak()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.bytes = torch.cuda.max_memory_allocated(self.device) - self._base
        elif self._base is not None:
            self.bytes = max(0, _status_kb("VmHWM") * 1024 - self._base)


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _reset_rss_peak() -> int | None:
    """Reset VmHWM to the current RSS; returns the RSS in bytes (None where unsupported)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS") * 1024
    except (OSError, KeyError):
        return None
