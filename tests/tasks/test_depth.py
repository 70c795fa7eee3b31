"""The depth task: a tiny model overfits a few fabricated depth maps; config checks; starting from a ViT."""

import pytest
import torch

from fixtures.nyu_depth import make_depth_folder
from pixelvit.config import ConfigError, load_config
from pixelvit.models import create_model, save_pretrained
from pixelvit.tasks import build_task

SMALL = ["task=depth", "data.name=depth_folder", "data.img_size=[8,8]", "model.name=vit_t/2", "model.embed_dim=32",
         "model.depth=2", "model.num_heads=2", "model.drop_path_rate=0", "train.precision=fp32"]  # fmt: skip


def test_a_tiny_model_overfits_four_depth_maps(tmp_path, one_thread):
    make_depth_folder(tmp_path, {"train": 4}, size=(8, 8))
    cfg = load_config(None, [*SMALL, f"data.root={tmp_path}", "data.eval_split=train", "depth.loss=silog"])
    task = build_task(cfg)
    assert task.main_metric == "rmse" and not task.higher_is_better
    batch = next(iter(torch.utils.data.DataLoader(task.evaluation.dataset, batch_size=4)))
    device = torch.device("cpu")

    def rmse() -> float:
        with torch.no_grad():
            return task.evaluation.summarize(task.evaluation.sums(task.model.eval(), [batch], device))["rmse"]

    before = rmse()
    optimizer = torch.optim.Adam(task.model.parameters(), lr=3e-3)
    task.model.train()
    losses = []
    for _ in range(150):
        loss = task.loss(task.model, batch, device)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    after = rmse()
    assert losses[-1] < 0.02 * losses[0], (losses[0], losses[-1])
    assert after < 0.1 * before and after < 0.25, (before, after)


def test_metrics_and_eval_set_come_from_the_config(tmp_path):
    make_depth_folder(tmp_path, {"train": 3, "test": 2}, size=(8, 8))
    task = build_task(load_config(None, [*SMALL, f"data.root={tmp_path}"]))
    assert len(task.train_set) == 3 and len(task.evaluation.dataset) == 2
    batch = next(iter(torch.utils.data.DataLoader(task.evaluation.dataset, batch_size=2)))
    metrics = task.evaluation.summarize(task.evaluation.sums(task.model.eval(), [batch], torch.device("cpu")))
    assert {"rmse", "rae", "abs_rel", "log10", "delta1", "delta2", "delta3"} <= set(metrics)
    assert 0 <= metrics["delta1"] <= metrics["delta2"] <= metrics["delta3"] <= 1


@pytest.mark.parametrize(
    "override, message",
    [
        ("augment.crop=rrc", "augment.crop='rrc' is not supported by task depth"),
        ("augment.mixup=0.8", "augment.mixup=0.8 is not supported by task depth"),
        ("data.permute_pairs=10", "data.permute_pairs=10 is not supported by task depth"),
        ("depth.silog_lambda=1.5", r"depth.silog_lambda=1.5 must be in \[0, 1\]"),
        ("depth.max_depth=0.0005", "need 0 < min_depth < max_depth"),
        ("depth.loss=huber", "depth.loss='huber' is not a valid choice"),
    ],
)
def test_config_errors_before_any_work(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [*SMALL, override])


def test_class_labelled_data_is_refused():
    cfg = load_config(None, ["task=depth", "data.name=digits", "model.embed_dim=16", "model.depth=1", "model.num_heads=2"])
    with pytest.raises(ConfigError, match="digits has class labels, not depth maps"):
        build_task(cfg)


def test_encoder_starts_from_a_vit_and_layer_decay_spares_the_head(tmp_path):
    make_depth_folder(tmp_path, {"train": 2, "test": 1}, size=(8, 8))
    vit = create_model("vit_t/2", img_size=8, num_classes=10, embed_dim=32, depth=2, num_heads=2, pixel_mean=(0.1, 0.2, 0.3))
    save_pretrained(vit, tmp_path / "vit")
    cfg = load_config(None, [*SMALL, f"data.root={tmp_path}", f"model.init_from={tmp_path / 'vit'}", "optim.layer_decay=0.5"])
    task = build_task(cfg)
    assert torch.equal(task.model.backbone.blocks[1].mlp.fc2.weight, vit.blocks[1].mlp.fc2.weight)
    assert torch.equal(task.model.backbone.pos_embed.weight, vit.pos_embed.weight)
    assert task.lr_scale("head.weight") == 1.0 and task.lr_scale("norm.bias") == 1.0
    assert task.lr_scale("backbone.blocks.1.attn.qkv.weight") == 0.5
    assert task.lr_scale("backbone.patch_embed.proj.weight") == 0.5**3
