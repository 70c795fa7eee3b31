"""``model.init_from`` from timm: a timm model folder, ``local-dir:`` and ``hf-hub:`` names (offline cache)."""

import pytest
import timm
import torch

from fixtures.hub import add_to_cache, use_hub_cache
from pixelvit import create_model, save_pretrained
from pixelvit.engine.init_from import init_encoder_from
from pixelvit.models.resize import resize_pos_embed
from pixelvit.models.timm_export import export_timm

pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = dict(img_size=8, embed_dim=16, depth=2, num_heads=2)


def timm_vit(**kw):
    """A genuine timm ViT of pixelvit's layout (class token position kept apart) with random non-init weights."""
    model = timm.create_model(
        "vit_tiny_patch16_224", patch_size=2, no_embed_class=True, pretrained=False, num_classes=7, **SHAPE, **kw
    )
    with torch.no_grad():
        for t in model.parameters():
            t.add_(torch.randn_like(t) * 0.2)
    return model.eval()


def test_init_from_a_folder_timm_wrote_itself(tmp_path):
    theirs = timm_vit()
    timm.models.save_for_hf(theirs, str(tmp_path / "timm"), safe_serialization=True)
    ours = create_model("vit_t/2", num_classes=3, **SHAPE)
    head = ours.head.weight.clone()
    fresh = init_encoder_from(ours, str(tmp_path / "timm"))
    assert fresh == ["head.weight", "head.bias"]
    assert torch.equal(ours.head.weight, head)  # the classifier starts fresh (3 classes, not timm's 7)
    ours.eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():  # same encoder: the same pooled features as timm's
        pooled = ours.forward_head(ours.forward_features(x), pre_logits=True)
        expected = theirs.forward_head(theirs.forward_features(x), pre_logits=True)
    torch.testing.assert_close(pooled, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["folder", "local-dir", "hf-hub"])
def test_init_from_an_exported_pixelvit_model_by_every_name(tmp_path, monkeypatch, form):
    source = create_model("vit_t/1", num_classes=5, global_pool="avg", class_token=False, **SHAPE)
    with torch.no_grad():
        for t in source.parameters():
            t.add_(torch.randn_like(t) * 0.2)
    export_timm(source, tmp_path / "timm")
    name = {"folder": str(tmp_path / "timm"), "local-dir": f"local-dir:{tmp_path / 'timm'}", "hf-hub": "hf-hub:lab/pixel"}[form]
    if form == "hf-hub":
        add_to_cache(use_hub_cache(tmp_path, monkeypatch), "lab/pixel", tmp_path / "timm")
    ours = create_model("vit_t/1", num_classes=2, global_pool="avg", class_token=False, **SHAPE)
    assert init_encoder_from(ours, name) == ["fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"]
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith(("head.", "fc_norm."))}
    got = ours.state_dict()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def test_a_pixelvit_repo_on_the_hub_also_starts_a_model(tmp_path, monkeypatch):
    source = create_model("vit_t/2", num_classes=4, **SHAPE)
    save_pretrained(source, tmp_path / "ours")
    add_to_cache(use_hub_cache(tmp_path, monkeypatch), "lab/ours", tmp_path / "ours")
    ours = create_model("vit_t/2", num_classes=4, **SHAPE)
    init_encoder_from(ours, "hf-hub:lab/ours")
    assert torch.equal(ours.blocks[1].mlp.fc2.weight, source.blocks[1].mlp.fc2.weight)


@pytest.mark.parametrize("source", ["timm folder", "reference MAE .pth"])
def test_a_timm_or_reference_mae_source_of_another_patch_size_is_resized(tmp_path, source):
    """A timm /2 ViT (timm's default layout: the class token's position is row 0 of pos_embed) starts a pixelvit /1
    model: the class position folds into the class token, the 4x4 grid of positions is interpolated to 8x8, and
    the projection is FlexiViT-resized so that a constant image's tokens are what timm's /2 tokens were."""
    theirs = timm.create_model("vit_tiny_patch16_224", patch_size=2, pretrained=False, num_classes=7, **SHAPE)
    with torch.no_grad():
        for t in theirs.parameters():
            t.add_(torch.randn_like(t) * 0.2)
    if source == "timm folder":
        timm.models.save_for_hf(theirs, str(tmp_path / "timm"), safe_serialization=True)
        path = tmp_path / "timm"
    else:  # facebookresearch/mae's pre-training checkpoint: timm's keys, a decoder, wrapped under "model"
        state = {**theirs.state_dict(), "mask_token": torch.zeros(1, 1, 8), "decoder_embed.weight": torch.zeros(8, 16)}
        path = tmp_path / "mae_pretrain.pth"
        torch.save({"model": state}, path)
    ours = create_model("vit_t/1", num_classes=3, **SHAPE).eval()
    init_encoder_from(ours, str(path))
    pos = theirs.pos_embed.detach()
    torch.testing.assert_close(ours.cls_token.detach(), theirs.cls_token.detach() + pos[:, :1])
    torch.testing.assert_close(ours.pos_embed.weight.detach(), resize_pos_embed(pos[:, 1:], (4, 4), (8, 8)))
    image = torch.full((1, 3, 8, 8), 0.7)
    with torch.no_grad():
        expected = theirs.patch_embed(image)[0, 0]  # every /2 token of a constant image is the same
        torch.testing.assert_close(ours.patch_embed(image)[0], expected.expand(64, -1), rtol=1e-5, atol=1e-5)


def test_a_timm_model_of_another_width_or_kind_is_refused(tmp_path, monkeypatch):
    timm.models.save_for_hf(timm_vit(), str(tmp_path / "timm"), safe_serialization=True)
    with pytest.raises(
        ValueError, match=r"patch_embed\.proj\.weight has shape \(16, 3, 2, 2\), the model expects \(32, 3, 1, 1\)"
    ):
        init_encoder_from(create_model("vit_t/1", **{**SHAPE, "embed_dim": 32}), str(tmp_path / "timm"))
    resnet = timm.create_model("resnet10t", num_classes=3)
    timm.models.save_for_hf(resnet, str(tmp_path / "resnet"), safe_serialization=True)
    with pytest.raises(ValueError, match="holds timm's 'resnet10t', not a Vision Transformer"):
        init_encoder_from(create_model("vit_t/2", **SHAPE), str(tmp_path / "resnet"))
    use_hub_cache(tmp_path, monkeypatch)
    with pytest.raises(FileNotFoundError, match="lab/absent: no local folder of that name"):
        init_encoder_from(create_model("vit_t/2", **SHAPE), "hf-hub:lab/absent")
