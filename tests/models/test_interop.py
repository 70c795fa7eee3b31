"""timm parity (parameter counts, outputs both ways) and model files (safetensors + JSON)."""

import json

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer as TimmViT

from pixelvit import create_model, from_pretrained, save_pretrained
from pixelvit.models.convert import from_timm, timm_kwargs, to_timm

TINY = dict(embed_dim=32, depth=2, num_heads=2, num_classes=5)


@pytest.mark.parametrize("p", [1, 2, 4])
@pytest.mark.parametrize(
    "kw",
    [
        dict(global_pool="token"),
        dict(global_pool="avg"),
        dict(global_pool="avg", class_token=False),
        dict(pos_embed="none", global_pool="avg"),
        dict(pos_embed="sincos"),
        dict(in_chans=1, img_size=(8, 12)),
    ],
)
def test_timm_parity_both_ways(p, kw):
    kw = {"img_size": (8, 16), **kw}
    ours = create_model(f"vit_t/{p}", **TINY, **kw).eval()
    theirs = TimmViT(**timm_kwargs(ours)).eval()
    assert sum(t.numel() for t in ours.parameters() if t.requires_grad) + (
        ours.pos_embed.weight.numel() if ours.config["pos_embed"] == "sincos" else 0
    ) == sum(t.numel() for t in theirs.parameters())
    theirs.load_state_dict(to_timm(ours.state_dict(), ours))
    x = torch.randn(3, ours.in_chans, *ours.img_size)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.forward_features(x), theirs.forward_features(x), rtol=1e-5, atol=1e-5)

    # and back: a fresh timm model (its own random weights) into a fresh pixelvit model
    theirs = TimmViT(**timm_kwargs(ours)).eval()
    back = create_model(
        f"vit_t/{p}",
        **TINY,
        **{**kw, "pos_embed": "learned" if kw.get("pos_embed") == "sincos" else kw.get("pos_embed", "learned")},
    ).eval()
    back.load_state_dict(from_timm(theirs.state_dict(), back))
    torch.testing.assert_close(back(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_from_timm_folds_class_position_of_timm_default_layout():
    ours = create_model("vit_t/2", **TINY, img_size=8).eval()
    kwargs = {**timm_kwargs(ours), "no_embed_class": False}  # timm's and MAE's default layout
    theirs = TimmViT(**kwargs).eval()
    with torch.no_grad():
        theirs.pos_embed.normal_()  # make the class token's position matter
    ours.load_state_dict(from_timm(theirs.state_dict(), ours))
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_from_timm_refuses_mismatched_checkpoints():
    ours = create_model("vit_t/2", **TINY, img_size=8)
    wrong_patch = TimmViT(**{**timm_kwargs(ours), "patch_size": 4})
    with pytest.raises(ValueError, match=r"patch_embed\.proj\.weight has shape"):
        from_timm(wrong_patch.state_dict(), ours)
    no_pos = create_model("vit_t/2", **TINY, img_size=8, pos_embed="none", global_pool="avg")
    with pytest.raises(ValueError, match="pos_embed='none'"):
        from_timm(TimmViT(**timm_kwargs(ours)).state_dict(), no_pos)
    dictionary = create_model("vit_t/1", **TINY, img_size=8, tokenizer="dictionary")
    with pytest.raises(ValueError, match="dictionary"):
        timm_kwargs(dictionary)


@pytest.mark.parametrize("kw", [{}, {"tokenizer": "dictionary"}, {"pos_embed": "sincos", "global_pool": "avg"}])
def test_save_and_load_round_trip_is_exact(tmp_path, kw):
    model = create_model("vit_t/1", **TINY, img_size=(4, 8), **kw, pixel_mean=(0.1, 0.2, 0.3)).eval()
    save_pretrained(model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["architecture"] == "vit" and meta["config"]["pixel_mean"] == [0.1, 0.2, 0.3]
    loaded = from_pretrained(tmp_path / "m").eval()
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.randint(0, 256, (2, 3, 4, 8), dtype=torch.uint8)
    assert torch.equal(model(x), loaded(x))


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "resnet", "config": {}}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        from_pretrained(tmp_path)
