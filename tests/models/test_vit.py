"""The model family: shapes for every preset, invariants of the domain, bad input."""

import pytest
import torch

from pixelvit import create_model, list_models
from pixelvit.models.tokenizers import patchify, unpatchify

TINY = dict(embed_dim=32, depth=2, num_heads=2)


def tiny(name="vit_t/1", **kw):
    return create_model(name, **{**TINY, "img_size": 8, "num_classes": 5, **kw})


@pytest.mark.parametrize("name", list_models("vit_*"))  # every family's presets: tests/models/test_registry.py
def test_every_preset_builds_on_meta_with_right_shapes(name):
    with torch.device("meta"):
        model = create_model(name, img_size=32, num_classes=100)
        x = torch.empty(2, 3, 32, 32)
        assert model(x).shape == (2, 100)
        feats = model.forward_features(x)
    p = model.patch_size
    assert feats.shape == (2, 1 + (32 // p) ** 2, model.embed_dim)


@pytest.mark.parametrize(
    "name,width,depth,heads,params",
    [
        # parameter counts of timm's vit_{tiny,small,base,large}_patch16_224 (no_embed_class) at 224/16, 1000 classes
        ("vit_t/16", 192, 12, 3, 5_717_416 - 192),
        ("vit_s/16", 384, 12, 6, 22_050_664 - 384),
        ("vit_b/16", 768, 12, 12, 86_567_656 - 768),
        ("vit_l/16", 1024, 24, 16, 304_326_632 - 1024),
    ],
)
def test_standard_sizes(name, width, depth, heads, params):
    with torch.device("meta"):
        model = create_model(name, img_size=224, num_classes=1000)
    assert (model.embed_dim, len(model.blocks), model.blocks[0].attn.num_heads) == (width, depth, heads)
    assert sum(p.numel() for p in model.parameters()) == params


@pytest.mark.parametrize("p", [1, 2, 4, 8])
@pytest.mark.parametrize("c", [1, 3, 4])
def test_unpatchify_inverts_patchify(p, c):
    x = torch.randn(2, c, 16, 24)
    tokens = patchify(x, p)
    assert tokens.shape == (2, (16 // p) * (24 // p), c * p * p)
    assert torch.equal(unpatchify(tokens, p, (16 // p, 24 // p), c), x)


def test_patchify_order_is_row_major_and_channel_first():
    x = torch.arange(2 * 4 * 4).float().reshape(1, 2, 4, 4)
    tokens = patchify(x, 2)
    # token 1 is the top-right 2x2 patch; its values are channel 0 then channel 1
    assert tokens[0, 1].tolist() == [2, 3, 6, 7, 18, 19, 22, 23]


def test_non_square_input():
    model = create_model("vit_t/2", **TINY, img_size=(48, 64), num_classes=3)
    assert model.grid_size == (24, 32)
    assert model(torch.randn(1, 3, 48, 64)).shape == (1, 3)


@pytest.mark.parametrize("kw", [{}, {"global_pool": "avg"}, {"tokenizer": "dictionary"}, {"pos_embed": "sincos"}])
def test_batch_independence(kw):
    """One sample's output must not depend on the other samples of the batch."""
    model = tiny(**kw).eval()
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    full = model(x)
    for i in range(4):
        torch.testing.assert_close(model(x[i : i + 1]), full[i : i + 1], rtol=1e-5, atol=1e-5)
    # changing sample 0 changes only row 0
    x2 = x.clone()
    x2[0] = 255 - x2[0]
    out2 = model(x2)
    torch.testing.assert_close(out2[1:], full[1:], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out2[0], full[0])


@pytest.mark.parametrize("class_token", [False, True])
def test_pixel_permutation_leaves_logits_unchanged_without_pos_embed(class_token):
    model = tiny(pos_embed="none", global_pool="avg", class_token=class_token).eval()
    x = torch.randn(2, 3, 8, 8)
    perm = torch.randperm(64)
    x_perm = x.flatten(2)[:, :, perm].reshape_as(x)
    torch.testing.assert_close(model(x_perm), model(x), rtol=1e-5, atol=1e-5)


def test_pixel_permutation_changes_logits_with_learned_pos_embed():
    model = tiny(pos_embed="learned", pos_embed_std=1.0, global_pool="avg").eval()
    x = torch.randn(2, 3, 8, 8)
    x_perm = x.flatten(2)[:, :, torch.randperm(64)].reshape_as(x)
    assert not torch.allclose(model(x_perm), model(x), atol=1e-4)


@pytest.mark.parametrize("kw", [{}, {"tokenizer": "dictionary"}, {"global_pool": "avg"}])
def test_gradients_reach_every_parameter(kw):
    model = tiny(**kw, drop_path_rate=0.1)
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    model(x).logsumexp(-1).sum().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead}"


def test_uint8_input_is_normalised_with_pixel_stats():
    model = tiny(pixel_mean=(0.1, 0.2, 0.3), pixel_std=(0.5, 0.25, 0.125)).eval()
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    mean = torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.5, 0.25, 0.125]).view(1, 3, 1, 1)
    torch.testing.assert_close(model(x), model((x.float() / 255 - mean) / std))


def test_dictionary_tokens_are_summed_per_channel_tables():
    model = tiny(tokenizer="dictionary").eval()
    tok = model.patch_embed
    x = torch.tensor([[[[7]], [[0]], [[255]]]], dtype=torch.uint8).expand(1, 3, 8, 8).contiguous()
    tokens = tok(x)
    table = tok.embed.weight
    expected = table[7] + table[256 + 0] + table[512 + 255] + tok.bias
    torch.testing.assert_close(tokens[0, 0], expected)
    assert tokens.shape == (1, 64, 32)


def test_dictionary_tokenizer_input_checks():
    model = tiny(tokenizer="dictionary")
    with pytest.raises(TypeError, match="uint8"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"0\.\.255.*-1\.\.300"):
        x = torch.zeros(1, 3, 8, 8, dtype=torch.int64)
        x[0, 0, 0, 0], x[0, 0, 0, 1] = -1, 300
        model(x)
    ok = torch.randint(0, 256, (1, 3, 8, 8), dtype=torch.int64)
    torch.testing.assert_close(model(ok), model(ok.to(torch.uint8)))


def test_sincos_pos_embed_is_fixed_and_matches_closed_form():
    model = tiny(pos_embed="sincos")
    assert not any("pos_embed" in n for n, _ in model.named_parameters())
    table = model.pos_embed.weight[0]  # (64, 32): first 16 channels from the column, last 16 from the row
    token = 3 * 8 + 5  # row 3, column 5
    omega = 1.0 / 10000 ** (torch.arange(8, dtype=torch.float64) / 8)
    expected_col = torch.cat([torch.sin(5 * omega), torch.cos(5 * omega)])
    expected_row = torch.cat([torch.sin(3 * omega), torch.cos(3 * omega)])
    torch.testing.assert_close(table[token].double(), torch.cat([expected_col, expected_row]), rtol=0, atol=1e-6)


def test_learned_pos_embed_std_is_configurable():
    std = create_model("vit_t/1", img_size=32, pos_embed_std=1.0).pos_embed.weight.std().item()
    assert 0.8 < std < 0.95  # truncated at ±2σ
    assert create_model("vit_t/1", img_size=32).pos_embed.weight.std().item() == pytest.approx(0.0176, abs=0.002)


def test_intermediates_and_attention_maps():
    model = tiny().eval()
    x = torch.randn(2, 3, 8, 8)
    out = model.forward_intermediates(x, indices=[0, -1])
    assert set(out["blocks"]) == {0, 1}
    assert out["blocks"][0].shape == (2, 64, 32)
    torch.testing.assert_close(out["features"], model.forward_features(x))
    maps = model.attention_maps(x, indices=[-1])
    assert set(maps) == {1} and maps[1].shape == (2, 2, 65, 65)
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(2, 2, 65))
    with pytest.raises(IndexError, match="depth 2"):
        model.forward_intermediates(x, indices=[5])


def test_fused_attention_matches_explicit_softmax():
    model = tiny().eval()
    block = model.blocks[0]
    x = torch.randn(2, 65, 32)
    probs = block.attention_probs(x)  # (B, H, L, L)
    _, _, v = block.attn.qkv_heads(block.norm1(x))
    explicit = (probs @ v).transpose(1, 2).reshape(2, 65, 32)
    torch.testing.assert_close(block.attn(block.norm1(x)), block.attn.proj(explicit), rtol=1e-5, atol=1e-5)
    # chunks of queries reproduce the full map
    chunks = torch.cat([block.attention_probs(x, slice(i, i + 16)) for i in range(0, 65, 16)], dim=2)
    torch.testing.assert_close(chunks, probs)


def test_grad_checkpointing_gives_same_gradients():
    model = tiny()
    x = torch.randn(2, 3, 8, 8)
    model(x).sum().backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref[n], msg=n)


def test_reset_classifier_and_no_weight_decay():
    model = tiny()
    model.reset_classifier(7)
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 7)
    model.reset_classifier(0)
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 32)
    names = dict(model.named_parameters())
    assert model.no_weight_decay() <= set(names)
    assert "pos_embed.weight" in model.no_weight_decay()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(img_size=30, patch_size=4), "not divisible by patch size 4"),
        (dict(tokenizer="pixel"), "choose one of"),
        (dict(pos_embed="rope"), "choose one of"),
        (dict(global_pool="token", class_token=False), "class_token"),
        (dict(pixel_mean=(0.5,)), "one per channel"),
    ],
)
def test_bad_construction_is_refused_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_model("vit_t/1", **{**TINY, "img_size": 8, **kwargs})


def test_bad_input_is_refused_clearly():
    model = tiny()
    with pytest.raises(ValueError, match="3-channel images, got 1 channels"):
        model(torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match="built for 8x8 images, got 16x16"):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        model(torch.randn(3, 8, 8))


def test_unknown_preset_lists_close_matches():
    with pytest.raises(ValueError, match="Did you mean: vit_s/1"):
        create_model("vit_ss/1")
    with pytest.raises(ValueError, match="unknown model 'pit_s/1'"):
        create_model("pit_s/1")


def test_registry_lists_and_decodes_any_patch_size():
    assert "vit_l/1" in list_models() and "vit_b/2" in list_models("vit_b/*")
    assert all(n.startswith("vit_s/") for n in list_models("vit_s/*"))
    assert create_model("vit_t/7", **TINY, img_size=14).patch_size == 7


def test_pixel_dropout_keeps_a_random_subset_in_training_only():
    model = tiny(global_pool="avg", class_token=False, pos_embed_std=1.0)
    x = torch.randn(2, 3, 8, 8)
    model.eval()
    torch.testing.assert_close(model(x, token_keep=0.25), model(x))  # eval: every token
    model.train()
    seen = []
    model.blocks[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    out = model(x, token_keep=0.25)
    assert out.shape == (2, 5) and seen[-1] == (2, 16, 32)  # 64 tokens -> 16
    # the kept tokens carry their own positions: keeping all tokens in any order equals the full forward
    model.eval()
    tokens = model.embed(x)
    perm = torch.randperm(64)
    torch.testing.assert_close(model.forward_head(model.forward_tokens(tokens[:, perm])), model(x), rtol=1e-5, atol=1e-5)
