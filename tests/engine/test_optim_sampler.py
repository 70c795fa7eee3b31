"""Schedule closed forms, parameter groups, and the resumable sampler."""

import math

import pytest

from pixelvit import create_model
from pixelvit.engine.optim import param_groups, warmup_cosine
from pixelvit.engine.sampler import EpochBatchSampler


def test_warmup_cosine_closed_form():
    lr = lambda s: warmup_cosine(s, total_steps=110, warmup_steps=10, base_lr=1.0, min_lr=0.1)  # noqa: E731
    assert lr(0) == pytest.approx(0.1) and lr(4) == pytest.approx(0.5) and lr(9) == pytest.approx(1.0)
    assert lr(10) == pytest.approx(1.0)
    assert lr(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr(110) == pytest.approx(0.1) and lr(500) == pytest.approx(0.1)
    assert warmup_cosine(0, 10, 0, 2.0, 0.0) == pytest.approx(2.0)


def test_warmup_from_zero_is_maes_formula():
    """MAE's util/lr_sched.py: lr = peak * s / W at (fractional) epoch s of W, so step s of W steps gets peak * s / W."""
    lr = lambda s: warmup_cosine(s, total_steps=110, warmup_steps=10, base_lr=1.0, min_lr=0.1, from_zero=True)  # noqa: E731
    assert lr(0) == 0.0 and lr(4) == pytest.approx(0.4) and lr(9) == pytest.approx(0.9) and lr(10) == pytest.approx(1.0)
    assert lr(60) == warmup_cosine(60, 110, 10, 1.0, 0.1)  # the decay is the same


def test_param_groups_exclude_norms_biases_and_embeddings():
    model = create_model("vit_t/1", img_size=4, embed_dim=16, depth=1, num_heads=2, num_classes=3)
    groups = param_groups(model, weight_decay=0.05)
    no_decay = {n for g in groups if g["weight_decay"] == 0 for n in g["names"]}
    decay = {n for g in groups if g["weight_decay"] == 0.05 for n in g["names"]}
    assert {"cls_token", "pos_embed.weight", "blocks.0.norm1.weight", "blocks.0.attn.qkv.bias", "head.bias"} <= no_decay
    assert decay == {"patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight",
                     "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "head.weight"}  # fmt: skip
    assert len(decay) + len(no_decay) == len(list(model.parameters()))


def flat(sampler):
    return [i for batch in sampler for i, _ in batch]


def test_sampler_is_a_permutation_that_depends_on_seed_and_epoch():
    a = flat(EpochBatchSampler(10, 3, seed=1, epoch=0, drop_last=False))
    assert sorted(a) == list(range(10))
    assert a == flat(EpochBatchSampler(10, 3, seed=1, epoch=0, drop_last=False))
    assert a != flat(EpochBatchSampler(10, 3, seed=1, epoch=1, drop_last=False))
    assert len(EpochBatchSampler(10, 3)) == 3 and len(EpochBatchSampler(10, 3, drop_last=False)) == 4


def test_sampler_resume_replays_the_rest_of_the_epoch():
    full = list(EpochBatchSampler(20, 4, seed=3, epoch=2))
    assert list(EpochBatchSampler(20, 4, seed=3, epoch=2, start_batch=3)) == full[3:]


def test_sampler_shards_ranks_without_overlap():
    shards = [flat(EpochBatchSampler(11, 2, seed=0, rank=r, world_size=2, shuffle=False, drop_last=False)) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(11))
    seeds = [s for r in range(2) for b in EpochBatchSampler(8, 2, rank=r, world_size=2) for _, s in b]
    assert len(set(seeds)) == 8  # every sample gets its own augmentation seed


def test_constant_schedule_and_ema_warmup():
    import torch

    from pixelvit.engine.optim import constant_after_warmup
    from pixelvit.engine.trainer import ema_with_warmup

    assert [constant_after_warmup(s, 4, 2.0) for s in (0, 3, 4, 100)] == [0.5, 2.0, 2.0, 2.0]
    ema, new = [torch.zeros(2)], [torch.ones(2)]
    update = ema_with_warmup(0.999)
    update(ema, new, torch.tensor(0))  # n = 0: decay 1/10 -> 0.9 of the new value
    torch.testing.assert_close(ema[0], torch.full((2,), 0.9))
    update(ema, new, torch.tensor(10**6))  # late: decay capped at 0.999
    torch.testing.assert_close(ema[0], torch.full((2,), 0.9 + 0.1 * 0.001))
