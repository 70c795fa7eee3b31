"""Classification task: pixel dropout for the first epochs only (model.token_keep_epochs)."""

import pytest
import torch

from pixelvit.config import ConfigError, load_config
from pixelvit.data.batch_transforms import BatchDraws
from pixelvit.tasks.classify import ClassifyTask

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["data.name=digits", "model.name=vit_t/1", "model.embed_dim=16", "model.depth=1", "model.num_heads=2",
        "model.class_token=false", "model.global_pool=avg", "data.limit_train=64", "data.limit_eval=8"]  # fmt: skip


def tokens_seen(task: ClassifyTask, epoch: int) -> int:
    """The sequence length the first block receives in one training loss at ``epoch``."""
    seen = []
    hook = task.model.blocks[0].register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[1]))
    images = torch.from_numpy(task.train_set.arrays.images[:4])  # uint8 (4, 1, 8, 8)
    targets = torch.from_numpy(task.train_set.arrays.targets[:4]).long()
    task.model.train()
    task.loss(task.model, (images, targets), torch.device("cpu"), BatchDraws(0, epoch, 0))
    hook.remove()
    return seen[0]


def test_token_keep_epochs_drops_pixels_early_and_trains_on_all_tokens_after():
    cfg = load_config(None, [*TINY, "model.token_keep=0.25", "model.token_keep_epochs=2"])
    task = ClassifyTask(cfg)
    assert [tokens_seen(task, epoch) for epoch in (0, 1, 2, 5)] == [16, 16, 64, 64]  # 8x8 digits: 64 pixel tokens
    always = ClassifyTask(load_config(None, [*TINY, "model.token_keep=0.25"]))
    assert tokens_seen(always, 5) == 16


def test_token_keep_epochs_is_checked():
    with pytest.raises(ConfigError, match=r"model.token_keep_epochs=0 must be >= 1 or null"):
        load_config(None, [*TINY, "model.token_keep=0.5", "model.token_keep_epochs=0"])
    with pytest.raises(ConfigError, match=r"model.token_keep=1.0 drops no token"):
        load_config(None, [*TINY, "model.token_keep_epochs=3"])
    with pytest.raises(ConfigError, match=r"token_keep_epochs does not apply"):
        load_config(None, ["task=mae", "model.name=mae_vit_t/1", "model.token_keep_epochs=3"])


def test_context_parallel_requirements_are_named_before_training():
    cp = [*TINY, "train.context_parallel=2"]
    assert load_config(None, cp).train.context_parallel == 2
    with pytest.raises(ConfigError, match=r"has no place for a class token: set model\.class_token=false"):
        load_config(None, [*cp, "model.class_token=true", "model.global_pool=token"])
    with pytest.raises(ConfigError, match="pixel dropout"):
        load_config(None, [*cp, "model.token_keep=0.5"])
    with pytest.raises(ConfigError, match=r"train.context_parallel=3 does not divide the 64 tokens"):
        load_config(None, [*TINY, "train.context_parallel=3"])
    with pytest.raises(ConfigError, match=r"train\.fsdp=false"):
        load_config(None, [*cp, "train.fsdp=true"])
    with pytest.raises(ConfigError, match="runs eagerly"):
        load_config(None, [*cp, "train.compile=true"])
    with pytest.raises(ConfigError, match="implemented for task classify, not mae"):
        load_config(None, ["task=mae", "model.name=mae_vit_t/1", "train.context_parallel=2"])


def test_random_erasing_runs_on_each_image_before_mixup():
    """As MAE's per-image dataset transform: an erased box is then still mixed with the partner image."""
    task = ClassifyTask(load_config(None, [*TINY, "augment.mixup=0.8", "augment.random_erasing=0.25"]))
    order = []
    erase, mix = task.erasing, task.mixup
    task.erasing = lambda x: order.append("erase") or erase(x)
    task.mixup = lambda x, y: order.append("mix") or mix(x, y)
    images = torch.from_numpy(task.train_set.arrays.images[:4])
    targets = torch.from_numpy(task.train_set.arrays.targets[:4]).long()
    task.loss(task.model, (images, targets), torch.device("cpu"), BatchDraws(0, 0, 0))
    assert order == ["erase", "mix"]


def test_head_init_std_redraws_the_new_head_as_mae_finetuning():
    torch.manual_seed(0)
    task = ClassifyTask(load_config(None, [*TINY, "model.head_init_std=2e-5"]))
    std = float(task.model.head.weight.std())
    assert 1.5e-5 < std < 2.5e-5  # 16 x 10 draws of a normal truncated at +-2 (absolute, so untouched at this std)
    default = ClassifyTask(load_config(None, TINY))
    assert float(default.model.head.weight.std()) > 1e-3
