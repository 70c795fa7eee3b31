"""DenseViT: each token's p×p read-out lands on its own block, any patch size, non-square inputs, model files."""

import pytest
import torch
from torch import nn

from pixelvit.engine.optim import param_groups
from pixelvit.models import create_model
from pixelvit.models.dense import DenseViT
from pixelvit.models.hub import from_pretrained, save_pretrained

TINY = dict(embed_dim=16, depth=1, num_heads=2)


@pytest.mark.parametrize("out_channels", [1, 2])
def test_each_token_fills_its_own_block_in_channel_row_column_order(out_channels):
    p, (h, w) = 2, (4, 6)
    model = DenseViT(out_channels=out_channels, img_size=(h, w), patch_size=p, embed_dim=8, depth=1, num_heads=2)
    k = p * p * out_channels
    with torch.no_grad():  # read-out = the first k features of the (already normalised) token
        model.head.weight.zero_()
        model.head.weight[:, :k].copy_(torch.eye(k))
        model.head.bias.zero_()
    gh, gw = h // p, w // p
    tokens = torch.zeros(1, gh * gw, 8)
    for t in range(gh * gw):
        tokens[0, t, :k] = 100 * t + torch.arange(k)  # token t, slot (c, a, b) -> 100 t + c p p + a p + b
    out = model.forward_head(tokens)
    assert out.shape == (1, out_channels, h, w)
    for c in range(out_channels):
        for y in range(h):
            for x in range(w):
                t = (y // p) * gw + x // p
                assert out[0, c, y, x] == 100 * t + c * p * p + (y % p) * p + x % p


@pytest.mark.parametrize("p", [1, 2, 4])
def test_48x64_maps_for_any_patch_size(p):
    model = DenseViT(out_activation="exp", img_size=(48, 64), patch_size=p, **TINY)
    images = torch.randint(0, 256, (2, 3, 48, 64), dtype=torch.uint8)
    out = model(images)
    assert out.shape == (2, 1, 48, 64) and out.dtype == torch.float32 and bool((out > 0).all())
    assert model.backbone.grid_size == (48 // p, 64 // p) and len(model.blocks) == 1
    # Batch independence: one image alone gives the same map.
    assert torch.allclose(model(images[1:]), out[1:], atol=1e-5)


def test_every_parameter_gets_a_gradient_and_decay_names_exist():
    model = DenseViT(img_size=(8, 12), patch_size=2, class_token=True, **TINY)
    model(torch.randn(2, 3, 8, 12)).square().mean().backward()
    names = dict(model.named_parameters())
    assert all(q.grad is not None for q in names.values()), [n for n, q in names.items() if q.grad is None]
    assert model.no_weight_decay() <= set(names) and "backbone.pos_embed.weight" in model.no_weight_decay()
    decayed = {n for g in param_groups(model, 0.05) if g["weight_decay"] > 0 for n in g["names"]}
    assert "head.weight" in decayed and "backbone.pos_embed.weight" not in decayed


def test_save_and_load_round_trip(tmp_path):
    model = DenseViT(out_activation="exp", img_size=(8, 12), patch_size=2, pixel_mean=(0.4, 0.5, 0.6), **TINY).eval()
    save_pretrained(model, tmp_path / "m")
    again = from_pretrained(tmp_path / "m").eval()
    assert isinstance(again, DenseViT) and again.config == model.config
    x = torch.randint(0, 256, (1, 3, 8, 12), dtype=torch.uint8)
    assert torch.equal(again(x), model(x))


def test_presets_and_config_leave_the_classifier_out():
    model = create_model("dense_vit_s/2", out_activation="exp", img_size=(8, 12), **TINY)
    assert isinstance(model, DenseViT) and model.backbone.patch_size == 2 and model.backbone.num_classes == 0
    assert not {"num_classes", "global_pool"} & set(model.config)
    assert DenseViT(**model.config).config == model.config


def test_bad_arguments():
    with pytest.raises(ValueError, match="do not pass global_pool, num_classes"):
        DenseViT(img_size=8, num_classes=10, global_pool="avg")
    with pytest.raises(ValueError, match="unknown out_activation"):
        DenseViT(img_size=8, out_activation="relu")
    with pytest.raises(ValueError, match="not divisible by patch size 5"):
        DenseViT(img_size=(48, 64), patch_size=5)
    assert isinstance(DenseViT(img_size=8, **TINY).backbone.fc_norm, nn.Identity)
