"""torch.distributed plumbing for the engine: process group from torchrun's environment, rank
helpers, and reductions. Nothing here manages processes: launch with ``torchrun``.

Single process (no ``WORLD_SIZE`` in the environment, or 1): every helper is a no-op.
"""

from __future__ import annotations

import datetime
import gc
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..config import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: global rank, world size, rank on its node, its device, and how many
    processes share each image's tokens (``context_parallel``; they form one data-parallel rank)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    context_parallel: int = 1

    @property
    def data_rank(self) -> int:
        """Which share of the batch this process trains on (the same within a context-parallel group)."""
        return self.rank // self.context_parallel

    @property
    def data_size(self) -> int:
        """How many shares the batch is split into: world size / context_parallel."""
        return self.world_size // self.context_parallel

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_name: str, timeout_s: float = 300.0) -> DistInfo:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU) and pick the device.

    ``device_name`` is the config's ``train.device`` ("auto", "cpu", "cuda", "cuda:N"); under
    torchrun, CUDA processes use ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError(
            f"train.device={device_name} requested but CUDA is not available on this machine; use train.device=cpu or auto"
        )
    if world == 1:
        return DistInfo(0, 1, 0, torch.device(device_name if device_name not in ("auto",) else ("cuda" if use_cuda else "cpu")))
    device = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            device_id=device if use_cuda else None,
            timeout=datetime.timedelta(seconds=timeout_s),  # a lost or frozen rank: an error, not a 30-minute hang
        )
    return DistInfo(rank, world, local, device)


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over ranks (returns a new tensor on the tensor's device)."""
    if not info.enabled:
        return tensor
    out = tensor.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when ``flag`` is true on any rank (e.g. a stop signal)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj``, in rank order (a list of one when not distributed)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup() -> None:
    """Destroy the process groups, after freeing what still holds collective work (DTensor's asynchronous
    results): gloo aborts the process if such an object is freed after its group is gone."""
    if dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
