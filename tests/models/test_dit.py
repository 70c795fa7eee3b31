"""DiT: parameter counts, reference parity (a faithful re-implementation of facebookresearch/DiT's forward
written here, on state dicts with the reference's key names and shapes), the checkpoint converter,
guidance, presets and files."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pixelvit.models import create_model, from_pretrained, list_models, save_pretrained
from pixelvit.models.dit import DiT, from_reference_state_dict, load_reference_checkpoint, to_reference_state_dict
from pixelvit.models.layers import Mlp

# ---- the reference, re-implemented minimally -------------------------------------------------------


def ref_pos_embed(dim: int, side: int) -> torch.Tensor:
    """MAE/DiT get_2d_sincos_pos_embed (numpy, w first)."""

    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid = np.stack(np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32)), axis=0)
    emb = np.concatenate([one_d(dim // 2, grid[0]), one_d(dim // 2, grid[1])], axis=1)
    return torch.from_numpy(emb).float()[None]


def ref_forward(sd, x, t, y, p, heads):
    """The reference DiT.forward on a reference-layout state dict."""
    lin = lambda h, name: F.linear(h, sd[f"{name}.weight"], sd[f"{name}.bias"])  # noqa: E731
    mod = lambda h, shift, scale: h * (1 + scale[:, None]) + shift[:, None]  # noqa: E731
    b, dim = x.shape[0], sd["pos_embed"].shape[-1]
    h = F.conv2d(x, sd["x_embedder.proj.weight"], sd["x_embedder.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    h = h + sd["pos_embed"]
    freqs = torch.exp(-math.log(10000) * torch.arange(128, dtype=torch.float32) / 128)
    args = t[:, None].float() * freqs[None]
    temb = lin(F.silu(lin(torch.cat([torch.cos(args), torch.sin(args)], -1), "t_embedder.mlp.0")), "t_embedder.mlp.2")
    c = temb + sd["y_embedder.embedding_table.weight"][y]
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    for i in range(depth):
        pre = f"blocks.{i}"
        s1, sc1, g1, s2, sc2, g2 = lin(F.silu(c), f"{pre}.adaLN_modulation.1").chunk(6, dim=1)
        hn = mod(F.layer_norm(h, (dim,), eps=1e-6), s1, sc1)
        qkv = lin(hn, f"{pre}.attn.qkv").reshape(b, -1, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * (dim // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1) @ v
        h = h + g1[:, None] * lin(attn.transpose(1, 2).reshape(b, -1, dim), f"{pre}.attn.proj")
        hn = mod(F.layer_norm(h, (dim,), eps=1e-6), s2, sc2)
        h = h + g2[:, None] * lin(F.gelu(lin(hn, f"{pre}.mlp.fc1"), approximate="tanh"), f"{pre}.mlp.fc2")
    shift, scale = lin(F.silu(c), "final_layer.adaLN_modulation.1").chunk(2, dim=1)
    out = lin(mod(F.layer_norm(h, (dim,), eps=1e-6), shift, scale), "final_layer.linear")
    side, cout = int(out.shape[1] ** 0.5), out.shape[-1] // (p * p)
    out = torch.einsum("nhwpqc->nchpwq", out.reshape(b, side, side, p, p, cout))
    return out.reshape(b, cout, side * p, side * p)


def ref_forward_with_cfg(sd, x, t, y, scale, p, heads, channels):
    """The reference's forward_with_cfg on a doubled batch (first half used), guiding `channels` channels."""
    half = x[: len(x) // 2]
    out = ref_forward(sd, torch.cat([half, half]), t, y, p, heads)
    eps, rest = out[:, :channels], out[:, channels:]
    cond, uncond = eps.chunk(2)
    guided = uncond + scale * (cond - uncond)
    return torch.cat([torch.cat([guided, guided]), rest], dim=1)


def ref_state_dict(depth=2, dim=32, p=2, side=8, c=4, classes=10, learn_sigma=True, seed=0):
    """Random weights under the reference's key names and shapes (Conv2d patch embedding, (p, p, C') output rows)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.2  # noqa: E731
    cout = 2 * c if learn_sigma else c
    sd = {
        "pos_embed": ref_pos_embed(dim, side // p),
        "x_embedder.proj.weight": r(dim, c, p, p), "x_embedder.proj.bias": r(dim),
        "t_embedder.mlp.0.weight": r(dim, 256), "t_embedder.mlp.0.bias": r(dim),
        "t_embedder.mlp.2.weight": r(dim, dim), "t_embedder.mlp.2.bias": r(dim),
        "y_embedder.embedding_table.weight": r(classes + 1, dim),
        "final_layer.linear.weight": r(p * p * cout, dim), "final_layer.linear.bias": r(p * p * cout),
        "final_layer.adaLN_modulation.1.weight": r(2 * dim, dim), "final_layer.adaLN_modulation.1.bias": r(2 * dim),
    }  # fmt: skip
    for i in range(depth):
        for name, shape in [("attn.qkv", (3 * dim, dim)), ("attn.proj", (dim, dim)), ("mlp.fc1", (4 * dim, dim)),
                            ("mlp.fc2", (dim, 4 * dim)), ("adaLN_modulation.1", (6 * dim, dim))]:  # fmt: skip
            sd[f"blocks.{i}.{name}.weight"], sd[f"blocks.{i}.{name}.bias"] = r(*shape), r(shape[0])
    return sd


def reference_formula(dim, depth, p, c=4, side=32, classes=1000, learn_sigma=True):
    """Parameter count of the reference DiT (pos_embed is a frozen nn.Parameter, counted by model.parameters())."""
    cout = 2 * c if learn_sigma else c
    block = 18 * dim * dim + 15 * dim
    embed = c * p * p * dim + dim + (256 * dim + dim + dim * dim + dim) + (classes + 1) * dim
    final = dim * p * p * cout + p * p * cout + 2 * dim * dim + 2 * dim
    return depth * block + embed + final + (side // p) ** 2 * dim


# ---- tests ------------------------------------------------------------------------------------------


def test_mlp_gelu_approximation_is_an_option():
    x = torch.randn(2, 5, 8)
    exact, tanh = Mlp(8, 16), Mlp(8, 16, approximate="tanh")
    tanh.load_state_dict(exact.state_dict())
    hidden = exact.fc1(x)
    torch.testing.assert_close(exact(x), exact.fc2(0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))))
    torch.testing.assert_close(tanh(x), tanh.fc2(F.gelu(hidden, approximate="tanh")))
    assert not torch.allclose(exact(x), tanh(x))


@pytest.mark.parametrize("name", ["dit_s/2", "dit_b/4", "dit_l/1", "dit_l/2", "dit_xl/2", "dit_xl/8"])
def test_parameter_count_equals_the_reference(name):
    with torch.device("meta"):  # no memory for 675M parameters
        model = create_model(name, img_size=32)
    count = sum(p.numel() for p in model.parameters())
    assert count == reference_formula(model.config["embed_dim"], model.config["depth"], model.patch_size)
    if name == "dit_xl/2":
        assert count == 675_129_632  # the reference's printed DiT-XL/2 count at 256x256
    if name == "dit_l/2":
        assert count == 458_102_816  # "458M"
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == count - model.pos_embed.numel()


def test_presets_listed_and_registered():
    assert {"dit_s/2", "dit_b/1", "dit_l/1", "dit_l/2", "dit_xl/2"} <= set(list_models("dit_*"))
    with pytest.raises(ValueError, match="dit_"):
        create_model("dit_m/2")


def test_fixed_position_embedding_is_the_reference_table():
    model = DiT(img_size=8, patch_size=2, in_chans=4, embed_dim=32, depth=1, num_heads=4, num_classes=10)
    torch.testing.assert_close(model.pos_embed.detach(), ref_pos_embed(32, 4))
    assert not model.pos_embed.requires_grad


def test_zero_initialised_like_the_reference():
    model = DiT(img_size=8, patch_size=2, in_chans=4, embed_dim=32, depth=2, num_heads=4, num_classes=10)
    out = model(torch.randn(3, 4, 8, 8), torch.tensor([0, 10, 999]), torch.tensor([1, 2, 3]))
    assert out.shape == (3, 8, 8, 8) and out.abs().max() == 0  # final layer zeroed
    for block in model.blocks:
        assert block.adaLN_modulation[-1].weight.abs().max() == 0


@pytest.mark.parametrize("p", [1, 2])
def test_outputs_match_the_reference_after_conversion(p):
    sd = ref_state_dict(p=p)
    model = DiT(img_size=8, patch_size=p, in_chans=4, embed_dim=32, depth=2, num_heads=4, num_classes=10).eval()
    model.load_state_dict(from_reference_state_dict(sd), strict=True)
    x, t, y = torch.randn(4, 4, 8, 8), torch.tensor([0, 3, 500, 999]), torch.tensor([0, 9, 10, 4])
    torch.testing.assert_close(model(x, t, y), ref_forward(sd, x, t, y, p, 4), atol=1e-4, rtol=1e-4)
    back = to_reference_state_dict(model.state_dict(), in_chans=4)
    assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd)


def test_guidance_all_channels_by_default_and_the_reference_three_behind_a_flag():
    sd = ref_state_dict(p=2)
    model = DiT(img_size=8, patch_size=2, in_chans=4, embed_dim=32, depth=2, num_heads=4, num_classes=10).eval()
    model.load_state_dict(from_reference_state_dict(sd))
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([10, 700]), torch.tensor([3, 7])
    doubled = (torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, 10)]))
    ref3 = ref_forward_with_cfg(sd, *doubled, 4.0, 2, 4, channels=3)[:2]
    ref4 = ref_forward_with_cfg(sd, *doubled, 4.0, 2, 4, channels=4)[:2]
    torch.testing.assert_close(model.forward_with_cfg(x, t, y, 4.0, guidance_channels=3), ref3, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(model.forward_with_cfg(x, t, y, 4.0), ref4, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(ref3, ref4)
    torch.testing.assert_close(model.forward_with_cfg(x, t, y, 1.0), model(x, t, y))


def test_load_reference_checkpoint_file(tmp_path):
    sd = ref_state_dict(p=2, learn_sigma=False)
    torch.save(sd, tmp_path / "plain.pt")
    torch.save({"ema": sd, "model": sd}, tmp_path / "train.pt")
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="num_heads"):  # heads are not in the weights, and width 32 is no preset
        load_reference_checkpoint(tmp_path / "plain.pt", num_classes=10)
    for name in ("plain.pt", "train.pt"):
        model = load_reference_checkpoint(tmp_path / name, num_heads=4, num_classes=10).eval()
        assert not model.learn_sigma and model.config["depth"] == 2 and model.config["img_size"] == [8, 8]
        torch.testing.assert_close(model(x, t, y), ref_forward(sd, x, t, y, 2, 4), atol=1e-4, rtol=1e-4)


def test_training_mode_drops_labels_to_the_null_class():
    model = DiT(img_size=4, patch_size=1, in_chans=1, embed_dim=16, depth=1, num_heads=2, num_classes=3, class_dropout_prob=0.5)
    labels = torch.zeros(2000, dtype=torch.long)
    dropped = model.y_embedder.embedding_table.weight[3]
    emb = model.y_embedder(labels, train=True)
    frac = (emb == dropped).all(1).float().mean()
    assert 0.45 < frac < 0.55 and torch.equal(
        model.y_embedder(labels, train=False)[0], model.y_embedder.embedding_table.weight[0]
    )
    no_null = DiT(img_size=4, patch_size=1, in_chans=1, embed_dim=16, depth=1, num_heads=2, num_classes=3, class_dropout_prob=0)
    with pytest.raises(ValueError, match="no null class"):
        no_null.forward_with_cfg(torch.randn(1, 1, 4, 4), torch.tensor([1]), torch.tensor([0]), 2.0)


def test_save_pretrained_round_trip_and_non_square(tmp_path):
    model = create_model("dit_s/1", img_size=(4, 6), in_chans=1, num_classes=5, embed_dim=16, depth=1, num_heads=2)
    torch.nn.init.normal_(model.final_layer.linear.weight)
    x, t, y = torch.randn(2, 1, 4, 6), torch.tensor([5, 6]), torch.tensor([1, 4])
    loaded = from_pretrained(save_pretrained(model, tmp_path / "m")).eval()
    torch.testing.assert_close(loaded(x, t, y), model.eval()(x, t, y))
    with pytest.raises(ValueError, match="expects"):
        model(torch.randn(2, 1, 4, 4), t, y)
