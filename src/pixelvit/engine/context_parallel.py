"""Context parallelism for sequences beyond one device's memory, with PyTorch's own distributed tensors.

With ``train.context_parallel=W`` the processes form a (data-parallel × W) device mesh. The W processes of one
context group train on the same images; each encodes 1/W of every image's patch tokens
(:meth:`pixelvit.models.vit.ViT.forward_sharded`), and attention still sees the whole sequence:

* ``ring`` (CUDA): ``torch.distributed.tensor.experimental.context_parallel``, PyTorch's ring attention over
  the flash / memory-efficient / cuDNN kernels (key/value shards pass around the group);
* ``allgather`` (CPU): each attention layer gathers the group's keys and values as a DTensor redistribution
  (``Shard`` -> ``Replicate``; in the backward pass their gradients are reduce-scattered) and runs the CPU
  flash kernel on its own queries against every key. PyTorch 2.14 registers no context-parallel rule for the
  backward of the CPU attention kernel, so the ring cannot run there; this is the all-gather form of the
  same algorithm (PyTorch's context parallelism offers it too, as a rotation method).

Forward and backward both run inside :func:`sharded_tokens`, so gradient checkpointing recomputes the same way.
Gradients: every process of a group computes the same loss; the pooled features' all-reduce returns W times
each process's share of the gradient to its tokens, so DDP's average over all processes gives exactly the
one-process gradient (tested on CPU). Activation memory per process falls by W (keys and values of the
layer being computed aside, with ``allgather``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.tensor import DTensor, Partial, Replicate, Shard
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..models.layers import Attention
from ..models.vit import TokenShard
from .attention import SDPA_BACKENDS, sdpa_backend
from .distributed import DistInfo

RING_BACKENDS = ("flash", "efficient", "cudnn")  # the kernels PyTorch's ring attention runs on CUDA
METHODS = ("ring", "allgather")


def context_mesh(info: DistInfo, size: int) -> DeviceMesh:
    """The ``size``-process context groups of a (world / size, size) mesh; ranks r·size … r·size + size - 1
    share one group (and one batch)."""
    if info.world_size % size:
        raise ValueError(
            f"train.context_parallel={size} does not divide the {info.world_size} processes: "
            f"launch a multiple of {size} (torchrun --nproc_per_node)"
        )
    mesh = init_device_mesh(info.device.type, (info.world_size // size, size), mesh_dim_names=("data", "context"))
    return mesh["context"]


def method_for(device: torch.device) -> str:
    """``ring`` on CUDA, ``allgather`` elsewhere (see the module docstring)."""
    return "ring" if device.type == "cuda" else "allgather"


def gather_sequence(mesh: DeviceMesh):
    """(B, heads, L / W, d) on each process -> (B, heads, L, d), the group's shards in rank order; differentiable
    (the incoming gradient is partial per process, so the backward pass sums and scatters it)."""

    def gather(local: torch.Tensor) -> torch.Tensor:
        shard = DTensor.from_local(local.contiguous(), mesh, [Shard(2)], run_check=False)
        return shard.redistribute(mesh, [Replicate()]).to_local(grad_placements=[Partial()])

    return gather


@contextmanager
def sharded_tokens(
    model: nn.Module, mesh: DeviceMesh, tokens: int, backend: str = "auto", method: str = "ring"
) -> Iterator[None]:
    """Run a training micro-step (forward and backward) with ``model``'s ``tokens`` patch tokens split across
    ``mesh`` by ``method`` (see the module docstring); ``backend`` as ``train.sdpa_backend``."""
    if method not in METHODS:
        raise ValueError(f"unknown context-parallel method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "ring" and backend not in ("auto", *RING_BACKENDS):
        raise ValueError(f"train.sdpa_backend={backend} has no ring attention: choose auto or {', '.join(RING_BACKENDS)}")
    device = next(model.parameters()).device
    attentions = [m for m in model.modules() if isinstance(m, Attention)]
    with ExitStack() as stack:
        if method == "ring":
            from torch.distributed.tensor.experimental import context_parallel

            index = torch.arange(tokens, device=device)  # sharded in place by context_parallel (load-balanced order)
            stack.enter_context(context_parallel(mesh, buffers=[index], buffer_seq_dims=[0]))
            names = RING_BACKENDS if backend == "auto" else (backend,)
            stack.enter_context(sdpa_kernel([SDPA_BACKENDS[b] for b in names] if device.type == "cuda" else [SDPBackend.MATH]))
        else:
            index = torch.arange(tokens, device=device).chunk(mesh.size())[mesh.get_local_rank()]
            stack.enter_context(sdpa_backend(backend))
            for attention in attentions:
                attention.kv_gather = gather_sequence(mesh)
        model.token_shard = TokenShard(index, mesh.get_group())
        try:
            yield
        finally:
            model.token_shard = None
            for attention in attentions:
                attention.kv_gather = None
