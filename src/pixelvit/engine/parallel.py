"""Wrapping a model for scale-out (DDP or FSDP2, optional torch.compile) and moving full training
state in and out of it. All of it is PyTorch's own ``torch.distributed``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict
from torch.nn.parallel import DistributedDataParallel

from .distributed import DistInfo

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def shard_model(model: nn.Module, info: DistInfo, precision: str) -> None:
    """FSDP2 in place: each Transformer block (every element of a ``*blocks`` ModuleList: ViT,
    DiT, and MAE encoder and decoder) is its own shard unit, then the root.

    Parameters stay fp32 (sharded); with bf16 on CUDA, compute runs in bf16 with fp32 gradient
    reduction. Must run before the optimizer is built.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy()
    if precision == "bf16" and info.device.type == "cuda":
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    units = [
        block for name, m in model.named_modules() if name.endswith("blocks") and isinstance(m, nn.ModuleList) for block in m
    ]
    if not units:
        raise ValueError(f"train.fsdp shards Transformer blocks (ModuleLists named *blocks); {type(model).__name__} has none")
    for block in units:
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)


COMPILE_BACKEND = "inductor"  # torch.compile's backend (tests set a faster one)
COMPILE_MIN_STEPS = 300  # train.compile=auto on CUDA: a shorter run does not win back the compile time


def should_compile(setting: bool | str, device: torch.device, steps: int) -> bool:
    """Whether to ``torch.compile`` the training module: ``train.compile`` true/false as given; "auto" compiles on
    CUDA for runs of at least ``COMPILE_MIN_STEPS`` optimizer steps, and never on a CPU (no gain measured there that
    pays for the compile time, see BENCHMARKS.md)."""
    if setting != "auto":
        return bool(setting)
    return device.type == "cuda" and steps >= COMPILE_MIN_STEPS


def training_module(model: nn.Module, info: DistInfo, fsdp: bool, compile_model: bool) -> nn.Module:
    """The module the training step calls: DDP around ``model`` when distributed without FSDP
    (FSDP already changed ``model`` in place), then ``torch.compile`` if asked."""
    wrapped: nn.Module = model
    if info.enabled and not fsdp:
        device_ids = [info.device.index] if info.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids=device_ids)
    if compile_model:
        wrapped = torch.compile(wrapped, backend=COMPILE_BACKEND)
    return wrapped


def full_training_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unsharded (model, optimizer) state dicts on the CPU, keyed by parameter names.

    A collective under FSDP: every rank must call it.
    """
    return get_state_dict(model, optimizer, options=FULL)


def load_full_training_state(model: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict, optim_state: dict) -> None:
    """Inverse of :func:`full_training_state` (each rank passes the same full state)."""
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state,
                   options=StateDictOptions(full_state_dict=True))  # fmt: skip
