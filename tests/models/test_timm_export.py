"""Export to timm by files: ``timm.create_model("local-dir:DIR", pretrained=True)`` gives pixelvit's logits."""

import json

import pytest
import timm
import torch

from fixtures.hub import add_to_cache, use_hub_cache
from pixelvit import create_model
from pixelvit.models.timm_export import export_timm, is_timm_folder, read_timm_folder, timm_config

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(embed_dim=16, depth=2, num_heads=2, num_classes=5)
MEAN, STD = (0.1, 0.2, 0.3), (0.5, 0.6, 0.7)


def trained_like(model):
    """Perturb every tensor, so no weight sits at an init value that a wrong conversion would also give."""
    with torch.no_grad():
        for t in model.parameters():
            t.add_(torch.randn_like(t) * 0.2)
    return model.eval()


def timm_input(images: torch.Tensor, model) -> torch.Tensor:
    """uint8 images normalised as timm's data config of ``model`` says (what timm's transforms do)."""
    cfg = timm.data.resolve_data_config({}, model=model)
    mean, std = torch.tensor(cfg["mean"]).view(1, -1, 1, 1), torch.tensor(cfg["std"]).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("pool", ["token", "avg"])
def test_timm_opens_the_folder_and_gives_the_same_logits(tmp_path, p, pool):
    ours = trained_like(create_model(f"vit_t/{p}", img_size=(8, 12), global_pool=pool, pixel_mean=MEAN, pixel_std=STD, **TINY))
    export_timm(ours, tmp_path / "timm")
    assert sorted(f.name for f in (tmp_path / "timm").iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((tmp_path / "timm" / "config.json").read_text())
    assert cfg["architecture"] == "vit_base_patch16_224" and cfg["num_classes"] == 5 and cfg["global_pool"] == pool
    assert cfg["model_args"]["patch_size"] == p and cfg["model_args"]["img_size"] == [8, 12]
    assert cfg["model_args"]["embed_dim"] == 16 and cfg["model_args"]["depth"] == 2
    pre = cfg["pretrained_cfg"]
    assert pre["input_size"] == [3, 8, 12] and pre["mean"] == list(MEAN) and pre["std"] == list(STD) and pre["num_classes"] == 5
    assert cfg["pixelvit"]["architecture"] == "vit" and cfg["pixelvit"]["config"]["patch_size"] == p

    theirs = timm.create_model(f"local-dir:{tmp_path / 'timm'}", pretrained=True).eval()
    assert type(theirs).__name__ == "VisionTransformer" and theirs.patch_embed.proj.kernel_size == (p, p)
    assert timm.data.resolve_data_config({}, model=theirs)["input_size"] == (3, 8, 12)
    images = torch.randint(0, 256, (4, 3, 8, 12), dtype=torch.uint8)
    with torch.no_grad():
        expected, got = ours(images), theirs(timm_input(images, theirs))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert expected.std() > 0.1  # real, distinct logits (not a degenerate all-zero head)


def test_the_folder_on_the_hub_opens_in_timm_from_the_offline_cache(tmp_path, monkeypatch):
    ours = trained_like(create_model("vit_t/1", img_size=8, in_chans=1, pixel_mean=(0.3,), pixel_std=(0.2,), **TINY))
    export_timm(ours, tmp_path / "timm")
    add_to_cache(use_hub_cache(tmp_path, monkeypatch), "some-org/pixel-vit", tmp_path / "timm")
    theirs = timm.create_model("hf-hub:some-org/pixel-vit", pretrained=True).eval()
    images = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(theirs(timm_input(images, theirs)), ours(images), rtol=1e-5, atol=1e-5)


def test_features_only_and_sincos_models_export(tmp_path):
    ours = trained_like(create_model("vit_t/2", img_size=8, pos_embed="sincos", **{**TINY, "num_classes": 0}))
    export_timm(ours, tmp_path / "timm")
    theirs = timm.create_model(f"local-dir:{tmp_path / 'timm'}", pretrained=True).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)
    assert theirs(x).shape == (2, 16)


@pytest.mark.parametrize(
    ("name", "kw", "reason"),
    [
        ("vit_t/1", {"tokenizer": "dictionary"}, "timm has no 'dictionary' tokenizer"),
        ("mae_vit_t/1", {}, r"timm has no counterpart of pixelvit's 'mae' family \(a masked autoencoder: fine-tune"),
        ("dense_vit_t/1", {}, r"timm has no counterpart of pixelvit's 'dense_vit' family \(a per-pixel read-out head\)"),
        ("dit_s/2", {"in_chans": 4}, r"timm has no counterpart of pixelvit's 'dit' family \(a diffusion transformer\)"),
    ],
)
def test_what_timm_cannot_represent_is_refused_with_the_reason(tmp_path, name, kw, reason):
    tiny = {k: v for k, v in TINY.items() if name.startswith("vit") or k != "num_classes"}
    model = create_model(name, img_size=8, **tiny, **kw)
    with pytest.raises(ValueError, match=f"cannot export to timm: {reason}"):
        export_timm(model, tmp_path / "timm")
    assert not (tmp_path / "timm").exists()  # nothing half-written


def test_timm_folders_are_recognised_and_read_back(tmp_path):
    ours = create_model("vit_t/2", img_size=8, **TINY)
    export_timm(ours, tmp_path / "timm")
    config, state = read_timm_folder(tmp_path / "timm")
    assert config == json.loads(json.dumps(timm_config(ours)))
    assert state["patch_embed.proj.weight"].shape == (16, 3, 2, 2) and is_timm_folder(tmp_path / "timm")
    from pixelvit import save_pretrained

    save_pretrained(ours, tmp_path / "ours")
    assert not is_timm_folder(tmp_path / "ours") and not is_timm_folder(tmp_path)
