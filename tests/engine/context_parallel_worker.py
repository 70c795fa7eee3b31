"""Run under torchrun (2 gloo processes) by tests/engine/test_distributed.py: the gradient of a tiny ViT with its tokens
split across the processes by ``sharded_tokens`` against the gradient of one process holding every token.

    torchrun --standalone --nproc_per_node=2 tests/engine/context_parallel_worker.py BATCH METHOD[,METHOD]

Rank 0 prints one JSON line per method and rank with the largest differences."""

import json
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F

from pixelvit import create_model
from pixelvit.engine.context_parallel import context_mesh, sharded_tokens
from pixelvit.engine.distributed import cleanup, init_distributed


def gradients(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    logits = model(x)
    F.cross_entropy(logits, y).backward()
    return logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def main() -> None:
    batch, methods = int(sys.argv[1]), sys.argv[2].split(",")
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    mesh = context_mesh(info, info.world_size)
    torch.manual_seed(0)
    model = create_model("vit_t/2", img_size=8, in_chans=1, num_classes=5, embed_dim=32, depth=2, num_heads=2,
                         class_token=False, global_pool="avg", pos_embed_std=1.0)  # fmt: skip
    with torch.no_grad():  # weights far from their init, so that attention shapes every output
        for t in model.parameters():
            t.add_(torch.randn_like(t) * 0.3)
    x, y = torch.randn(batch, 1, 8, 8), torch.randint(0, 5, (batch,))
    model.train()
    logits_one, grads_one = gradients(model, x, y)
    for method in methods:
        with sharded_tokens(model, mesh, model.num_patches, method=method):
            logits, grads = gradients(model, x, y)
        for g in grads.values():  # what DDP does: the average over the processes
            dist.all_reduce(g)
            g /= info.world_size
        worst = max((grads[k] - grads_one[k]).abs().max().item() for k in grads_one)
        record = {"method": method, "rank": info.rank, "logits": (logits - logits_one).abs().max().item(), "grads": worst}
        records: list = [None] * info.world_size
        dist.all_gather_object(records, record)
        if info.rank == 0:  # one writer: two processes printing at once can interleave their lines
            print("\n".join(json.dumps(r) for r in records), flush=True)
    del logits, grads
    cleanup()


if __name__ == "__main__":
    main()
