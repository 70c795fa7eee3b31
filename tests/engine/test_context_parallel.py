"""Context parallelism's guards (its numbers are checked with real processes in test_distributed.py)."""

import pytest
import torch

from pixelvit import create_model
from pixelvit.engine.context_parallel import context_mesh, sharded_tokens
from pixelvit.engine.distributed import DistInfo


def test_context_parallel_needs_a_multiple_of_its_processes():
    with pytest.raises(ValueError, match=r"train.context_parallel=2 does not divide the 1 processes: launch a multiple of 2"):
        context_mesh(DistInfo(0, 1, 0, torch.device("cpu")), 2)


def test_ring_attention_refuses_a_kernel_it_has_no_ring_form_of():
    model = create_model("vit_t/1", img_size=8, in_chans=1, num_classes=2, embed_dim=16, depth=1, num_heads=2)
    ring_math = sharded_tokens(model, mesh=None, tokens=64, backend="math", method="ring")
    with pytest.raises(ValueError, match=r"train.sdpa_backend=math has no ring attention: choose auto or flash"), ring_math:
        pass
    rings = sharded_tokens(model, None, 64, method="rings")
    with pytest.raises(ValueError, match="unknown context-parallel method 'rings'"), rings:
        pass
    assert model.token_shard is None and all(getattr(m, "kv_gather", None) is None for m in model.modules())
