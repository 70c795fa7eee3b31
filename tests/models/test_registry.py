"""Every preset of every family (timm's tests/test_models.py style): built tiny, forward shape, model-file
round trip, batch independence, JSON config; the shared surface; the registry; old model files."""

import json

import pytest
import torch

from pixelvit.models import DenseViT, DiT, MaskedAutoencoder, VisionTransformer, create_model, list_models, save_pretrained
from pixelvit.models.hub import build_from_description, describe, from_pretrained, upgrade_config
from pixelvit.models.registry import decode_variant, families, family_of, family_of_preset, register_family, with_family

IMG, TINY = 8, dict(embed_dim=32, depth=1, num_heads=2)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a shared machine: more threads only oversubscribe
    yield
    torch.set_num_threads(before)


def tiny(name: str, **kw) -> torch.nn.Module:
    """Preset ``name`` at width 32, depth 1, on IMG×IMG images (at least a 2×2 token grid for large patches), with
    what its family's example asks for beside (``Family.example.kwargs``)."""
    _, preset = decode_variant(name)
    extra = family_of_preset(name).example.kwargs
    torch.manual_seed(0)
    model = create_model(name, **{"img_size": max(IMG, 2 * preset["patch_size"]), **TINY, **extra, **kw})
    for p in model.parameters():  # off the zero inits (DiT's adaLN-Zero) so outputs depend on every weight
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.1)
    return model.eval()


def inputs(model: torch.nn.Module, batch: int) -> tuple:
    """``forward``'s arguments for ``batch`` samples, as the model's family makes them, from a fixed seed."""
    return family_of(model).example.inputs(model, batch, torch.Generator().manual_seed(1))


def output(model: torch.nn.Module, args: tuple, grad: bool = False) -> torch.Tensor:
    """The family's main output (e.g. MAE's predictions under masks from a fixed seed)."""
    with torch.set_grad_enabled(grad):
        return family_of(model).example.output(model, args)


def expected_shape(model: torch.nn.Module, batch: int) -> tuple[int, ...]:
    return family_of(model).example.shape(model, batch)


@pytest.mark.parametrize("name", list_models())
def test_every_preset_builds_saves_loads_and_is_batch_independent(name, tmp_path):
    model = tiny(name)
    args = inputs(model, 3)
    out = output(model, args)
    assert out.shape == expected_shape(model, 3)
    # the model file rebuilds the same model: same outputs, not just shapes
    again = from_pretrained(save_pretrained(model, tmp_path / "m")).eval()
    assert type(again) is type(model) and again.config == model.config
    assert torch.equal(output(again, args), out)
    # sample 0 alone gives sample 0's output
    torch.testing.assert_close(output(model, tuple(a[:1] for a in args)), out[:1], atol=1e-5, rtol=0)
    # config is plain JSON and rebuilds the model
    assert json.loads(json.dumps(model.config)) == model.config
    assert describe(model)["architecture"] == family_of(model).name


@pytest.mark.parametrize("family", list(families()))
def test_every_family_has_the_same_surface(family):
    model = tiny(f"{families()[family].prefix}_s/2")
    assert model.img_size == (IMG, IMG) and isinstance(model.img_size, tuple)
    assert model.patch_size == 2 and model.grid_size == (IMG // 2, IMG // 2) and model.in_chans == model.config["in_chans"]
    assert model.no_weight_decay() <= {n for n, _ in model.named_parameters()}
    args = inputs(model, 2)
    with torch.no_grad():
        feats = model.forward_features(*args)
        inter = model.forward_intermediates(*args, indices=[-1])
    assert feats.shape[0] == 2 and feats.shape[-1] == TINY["embed_dim"]
    assert set(inter["blocks"]) == {0} and inter["blocks"][0].shape[-1] == TINY["embed_dim"]
    model.set_grad_checkpointing(True)  # recomputes blocks in backward: the same values forward
    torch.testing.assert_close(output(model, args, grad=True).detach(), output(model, args))


def test_dit_features_and_head_compose_to_forward():
    model = tiny("dit_s/1")
    x, t, y = inputs(model, 2)
    with torch.no_grad():
        out = model.forward_intermediates(x, t, y, indices=[])
        torch.testing.assert_close(model.forward_head(out["features"], out["condition"]), model(x, t, y))


def test_reset_classifier_updates_the_config():
    model = tiny("vit_t/2")
    model.reset_classifier(7)
    assert model.config["num_classes"] == 7 and describe(model)["config"]["num_classes"] == 7


def test_registry_lists_every_family_and_size():
    names = list_models()
    assert {"vit_t/1", "dense_vit_s/1", "mae_vit_t/1", "dit_l/2", "dit_xl/16", "vit_h/16"} <= set(names)
    assert len(names) == len(set(names)) == sum(len(f.sizes) for f in families().values()) * 5
    assert {f.name for f in families().values()} == {"vit", "dense_vit", "mae", "dit"}
    assert list_models("mae_*") == [n for n in names if n.startswith("mae_vit_")]
    cls, preset = decode_variant("dense_vit_b/4")
    assert cls is DenseViT and preset == dict(embed_dim=768, depth=12, num_heads=12, patch_size=4)
    assert decode_variant("mae_vit_t/7")[0] is MaskedAutoencoder and decode_variant("dit_xl/2")[0] is DiT
    with pytest.raises(ValueError, match="Did you mean: dense_vit_s/1"):
        create_model("dense_vit_ss/1")
    assert with_family("vit_s/2", "dense_vit") == "dense_vit_s/2" and with_family("mae_vit_b/1", "mae") == "mae_vit_b/1"
    with pytest.raises(ValueError, match="same sizes"):
        with_family("dit_xl/2", "mae")
    with pytest.raises(ValueError, match="already registered"):
        register_family("copy", sizes={}, example=families()["vit"].example, prefix="vit")(VisionTransformer)


def test_wrapped_families_refuse_encoder_arguments_they_fix():
    with pytest.raises(ValueError, match="do not pass global_pool, num_classes"):
        create_model("dense_vit_t/1", img_size=8, num_classes=3, global_pool="avg")
    with pytest.raises(ValueError, match="no classifier"):
        create_model("mae_vit_t/1", img_size=8, num_classes=3)
    with pytest.raises(TypeError, match="tokeniser"):
        create_model("mae_vit_t/1", img_size=8, tokeniser="linear")


# ---- model files written before the families shared one vocabulary ----------------------------------

OLD_DIT = {
    "architecture": "dit",
    "config": dict(input_size=[4, 6], patch_size=2, in_channels=1, embed_dim=16, depth=1, num_heads=2, mlp_ratio=4.0,
                   class_dropout_prob=0.1, num_classes=5, learn_sigma=True),
}  # fmt: skip
OLD_MAE_ENCODER = dict(
    img_size=[8, 8], patch_size=2, in_chans=1, num_classes=0, embed_dim=16, depth=1, num_heads=2, mlp_ratio=4.0,
    qkv_bias=True, tokenizer="linear", pos_embed="learned", pos_embed_std=0.02, global_pool="token", class_token=True,
    drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0, pixel_mean=[0.3], pixel_std=[0.2],
)  # fmt: skip
OLD_MAE = {
    "architecture": "mae",
    "config": dict(encoder=OLD_MAE_ENCODER, mask_ratio=0.75, mask_block=1, target="local_norm", local_norm_window=3,
                   decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, decoder_mlp_ratio=4.0,
                   decoder_pos_embed="sincos"),
}  # fmt: skip


def test_upgrade_config_maps_old_names():
    assert upgrade_config("dit", OLD_DIT["config"]) == {
        **{k: v for k, v in OLD_DIT["config"].items() if k not in ("input_size", "in_channels")},
        "img_size": [4, 6],
        "in_chans": 1,
    }
    flat = upgrade_config("mae", OLD_MAE["config"])
    assert "encoder" not in flat and "num_classes" not in flat and flat["patch_size"] == 2 and flat["target"] == "local_norm"
    assert upgrade_config("vit", {"img_size": [8, 8]}) == {"img_size": [8, 8]}


def old_dit_loaded(model: torch.nn.Module) -> bool:
    return model.img_size == (4, 6) and model.in_chans == 1


def old_mae_loaded(model: torch.nn.Module) -> bool:
    return model.encoder.pixel_mean == (0.3,) and model.encoder.num_classes == 0


@pytest.mark.parametrize("meta, loaded_as_written", [(OLD_DIT, old_dit_loaded), (OLD_MAE, old_mae_loaded)], ids=["dit", "mae"])
def test_old_model_files_still_load(meta, loaded_as_written, tmp_path):
    model = build_from_description(meta, "old file")
    assert upgrade_config(meta["architecture"], meta["config"]).items() <= model.config.items()
    # an old directory (config.json with the old names + weights) loads with the same weights
    save_pretrained(model, tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    loaded = from_pretrained(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert loaded_as_written(loaded)
