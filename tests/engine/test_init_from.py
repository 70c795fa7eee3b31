"""Fine-tuning from MAE: the classifier starts from the pre-trained encoder; layer-wise lr decay."""

import pytest
import torch

from pixelvit import save_pretrained
from pixelvit.config import ConfigError, load_config
from pixelvit.engine.checkpoint import save_checkpoint
from pixelvit.engine.optim import param_groups
from pixelvit.models.hub import describe
from pixelvit.models.layer_decay import layer_decay_lr_scale, layer_id
from pixelvit.tasks import build_task
from pixelvit.tasks.run import seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster on a shared 2-core machine

SHAPE = ["model.name=vit_t/1", "model.embed_dim=16", "model.depth=2", "model.num_heads=2", "data.name=digits"]
MAE = ["task=mae", *SHAPE, "mae.decoder_embed_dim=16", "mae.decoder_depth=1", "mae.decoder_num_heads=2"]


def classifier(*extra: str, seed: int = 0):
    seed_everything(seed)
    return build_task(load_config(None, ["task=classify", *SHAPE, *extra]))


@pytest.fixture(scope="module")
def pretrained():
    seed_everything(123)
    model = build_task(load_config(None, MAE)).model
    with torch.no_grad():  # as if trained: no tensor (biases, norms included) left at its initial value
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def encoder_tensors(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.startswith(("head.", "fc_norm.", "norm."))}


@pytest.mark.parametrize("source", ["model_dir", "run_dir", "checkpoint"])
def test_classifier_starts_from_the_mae_encoder(tmp_path, pretrained, source):
    if source == "model_dir":
        save_pretrained(pretrained, tmp_path / "final")
        path = tmp_path / "final"
    else:  # a run without final/: its newest checkpoint, or that checkpoint file
        state = {"model": pretrained.state_dict(), "model_description": describe(pretrained)}
        path = save_checkpoint(state, tmp_path / "run", step=7, keep=1)
        (tmp_path / "run" / "config.yaml").write_text("task: mae\n")
        path = tmp_path / "run" if source == "run_dir" else path
    task = classifier(f"model.init_from={path}", "model.global_pool=avg")
    fresh = classifier("model.global_pool=avg")
    mae_encoder = pretrained.encoder.state_dict()
    ours, baseline = encoder_tensors(task.model), encoder_tensors(fresh.model)
    assert set(ours) == {k for k in mae_encoder if not k.startswith("norm.")}
    for name, value in ours.items():
        assert torch.equal(value, mae_encoder[name]), name
        assert not torch.equal(value, baseline[name]), name  # a fresh init differs everywhere
    assert torch.equal(task.model.head.weight, fresh.model.head.weight)  # head: fresh init, same seed


def test_token_pooling_takes_the_final_norm_and_a_plain_vit_model_dir_works(tmp_path, pretrained):
    save_pretrained(pretrained, tmp_path / "mae")
    task = classifier(f"model.init_from={tmp_path / 'mae'}")
    assert torch.equal(task.model.norm.weight, pretrained.encoder.norm.weight)
    save_pretrained(task.model, tmp_path / "vit")  # a plain ViT classifier (10 classes) as the source
    again = classifier(f"model.init_from={tmp_path / 'vit'}", seed=5)
    assert torch.equal(again.model.blocks[1].attn.qkv.weight, pretrained.encoder.blocks[1].attn.qkv.weight)


def test_mismatched_or_missing_sources_are_refused_by_name(tmp_path, pretrained):
    save_pretrained(pretrained, tmp_path / "mae")
    with pytest.raises(
        ValueError, match=r"shape mismatch \(30\): .*blocks.0.attn.qkv.weight: source \(48, 16\) vs model \(96, 32\)"
    ):
        classifier(f"model.init_from={tmp_path / 'mae'}", "model.embed_dim=32")
    resized = classifier(f"model.init_from={tmp_path / 'mae'}", "model.patch_size=2").model  # a /1 source starts a /2 model
    torch.testing.assert_close(resized.patch_embed.proj.weight, pretrained.encoder.patch_embed.proj.weight.expand(-1, 4) / 4)
    with pytest.raises(ValueError, match=r"not in the model \(1\): pos_embed.weight"):
        classifier(f"model.init_from={tmp_path / 'mae'}", "model.pos_embed=none", "model.global_pool=avg")
    with pytest.raises(
        ValueError,
        match=r"missing from the source \(2\): patch_embed.bias, patch_embed.embed.weight; not in the model \(2\): patch_embed",
    ):
        classifier(f"model.init_from={tmp_path / 'mae'}", "model.tokenizer=dictionary")
    with pytest.raises(FileNotFoundError, match=r"model.init_from=.*nowhere: not found"):
        classifier(f"model.init_from={tmp_path / 'nowhere'}")


def test_layer_ids_and_scales_follow_the_beit_mae_rule():
    depth, decay = 2, 0.5
    expected = {
        "cls_token": (0, 0.125), "pos_embed.weight": (0, 0.125), "patch_embed.proj.weight": (0, 0.125),
        "patch_embed.proj.bias": (0, 0.125), "blocks.0.attn.qkv.weight": (1, 0.25), "blocks.0.norm1.bias": (1, 0.25),
        "blocks.1.mlp.fc2.weight": (2, 0.5), "norm.weight": (3, 1.0), "fc_norm.bias": (3, 1.0), "head.weight": (3, 1.0),
    }  # fmt: skip
    for name, (lid, scale) in expected.items():
        assert layer_id(name, depth) == lid, name
        assert layer_decay_lr_scale(name, depth, decay) == scale, name
    assert layer_id("blocks.11.mlp.fc1.weight", 12) == 12 and layer_decay_lr_scale("head.bias", 12, 0.65) == 1.0
    assert layer_decay_lr_scale("cls_token", 12, 0.65) == pytest.approx(0.65**13)


def test_classify_task_sets_lr_scale_from_optim_layer_decay():
    task = classifier("optim.layer_decay=0.5", "model.global_pool=avg")
    scales = {name: task.lr_scale(name) for name, _ in task.model.named_parameters()}
    assert scales["patch_embed.proj.weight"] == scales["cls_token"] == scales["pos_embed.weight"] == 0.125
    assert scales["blocks.0.mlp.fc1.weight"] == 0.25 and scales["blocks.1.attn.proj.bias"] == 0.5
    assert scales["head.weight"] == scales["fc_norm.weight"] == 1.0
    groups = param_groups(task.model, 0.05, lr_scale=task.lr_scale)
    assert sorted({g["lr_scale"] for g in groups}) == [0.125, 0.25, 0.5, 1.0]
    assert classifier().lr_scale is None


def test_layer_decay_and_mae_settings_are_validated():
    with pytest.raises(ConfigError, match=r"optim.layer_decay=1.5 must be in \(0, 1\]"):
        load_config(None, ["optim.layer_decay=1.5"])
    with pytest.raises(ConfigError, match=r"optim.layer_decay is for fine-tuning"):
        load_config(None, [*MAE, "optim.layer_decay=0.75"])
    with pytest.raises(ConfigError, match=r"mixup, cutmix, random_erasing and label_smoothing"):
        load_config(None, [*MAE, "augment.mixup=0.8"])
    with pytest.raises(ConfigError, match=r"model.global_pool=avg in the fine-tuning config"):
        load_config(None, [*MAE, "model.global_pool=avg"])
    with pytest.raises(ConfigError, match=r"mask_block=3 must divide the 8x8 token grid"):
        load_config(None, [*MAE, "mae.mask_block=3"])
    with pytest.raises(ConfigError, match=r"mae.mask_ratio=1.0 must be in"):
        load_config(None, [*MAE, "mae.mask_ratio=1.0"])
    with pytest.raises(ConfigError, match=r"divisible by 4"):
        load_config(None, [*MAE, "mae.decoder_embed_dim=18", "mae.decoder_num_heads=2"])
