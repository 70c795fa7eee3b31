"""Resizing a ViT to another patch size or image size: shapes, FlexiViT's guarantees, position-embedding interpolation."""

import pytest
import torch
import torch.nn.functional as F

from pixelvit.models import create_model
from pixelvit.models.resize import infer_grid, resize_patch_projection, resize_pos_embed, resize_vit
from pixelvit.models.tokenizers import patchify

TINY = dict(img_size=8, in_chans=3, embed_dim=16, depth=1, num_heads=2, num_classes=10)


def vit(name: str = "vit_t/2", **extra):
    model = create_model(name, **{**TINY, **extra})
    with torch.no_grad():  # as if trained: a bias and a position embedding that matter
        model.patch_embed.proj.bias.normal_()
        model.pos_embed.weight.normal_()
    return model


def test_a_p2_model_resized_to_p1_and_back_has_the_expected_shapes_and_kernels():
    source = vit()
    pixel = resize_vit(source, patch_size=1)
    assert pixel.patch_size == 1 and pixel.grid_size == (8, 8)
    assert pixel.patch_embed.proj.weight.shape == (16, 3) and pixel.pos_embed.weight.shape == (1, 64, 16)
    back = resize_vit(pixel, patch_size=2)
    assert back.patch_embed.proj.weight.shape == (16, 12) and back.pos_embed.weight.shape == (1, 16, 16)
    w = source.patch_embed.proj.weight.reshape(16, 3, 4)  # (D, C, p·p)
    # /2 -> /1 sums each channel's 2x2 kernel; /1 -> /2 spreads it evenly: the round trip is the kernel's mean
    torch.testing.assert_close(pixel.patch_embed.proj.weight, w.sum(-1))
    torch.testing.assert_close(back.patch_embed.proj.weight, w.mean(-1, keepdim=True).expand(-1, -1, 4).reshape(16, 12))
    for name, value in source.state_dict().items():  # every other tensor (blocks, norm, head) is copied
        if not name.startswith(("patch_embed.", "pos_embed.")):
            assert torch.equal(value, pixel.state_dict()[name]), name
    x = torch.randn(2, 3, 8, 8)
    assert pixel(x).shape == back(x).shape == (2, 10)


@pytest.mark.parametrize(("src", "dst"), [(2, 1), (1, 2), (2, 4)])
def test_tokens_of_a_constant_image_keep_their_value(src, dst):
    """A constant patch of value c gives c·Σw + b per token. PI-resize keeps Σw per channel when B maps
    constants to constants and has full column rank (p' > p: <B1, w'> = <1, w>), and from /2 to /1, where
    B is the mean of the 2x2 patch, so w' = pinv(Bᵀ) w = Σw. Other downsizings (4 -> 2, 4 -> 1: bicubic
    anti-aliasing weighs a 4x4 patch unevenly) are least-squares fits that do not keep it."""
    source = vit(f"vit_t/{src}")
    resized = resize_vit(source, patch_size=dst)
    image = torch.tensor([0.3, -1.2, 0.7]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    expected = source.patch_embed(image)[0, 0]  # every token of the source is this one
    tokens = resized.patch_embed(image)[0]  # (L', D)
    assert tokens.shape == ((8 // dst) ** 2, 16)
    torch.testing.assert_close(tokens, expected.expand_as(tokens), rtol=1e-5, atol=1e-5)


def test_upsampling_keeps_the_token_of_every_resized_patch():
    """FlexiViT's guarantee for p' > p: <resize(x), w'> = <x, w> for any patch x (B has full column rank)."""
    w = torch.randn(16, 3 * 2 * 2)
    w4 = resize_patch_projection(w, 3, 4)
    patches = torch.randn(5, 3, 2, 2)
    upsampled = F.interpolate(patches, size=(4, 4), mode="bicubic", antialias=True, align_corners=False)
    torch.testing.assert_close(patchify(upsampled, 4)[:, 0] @ w4.T, patchify(patches, 2)[:, 0] @ w.T, rtol=1e-4, atol=1e-4)


def linear_grid(gh: int, gw: int, dim: int = 3):
    """A (1, gh·gw, dim) embedding a·row + b·col + c, and its (a, b, c)."""
    a, b, c = torch.randn(dim), torch.randn(dim), torch.randn(dim)
    rows, cols = torch.meshgrid(torch.arange(gh, dtype=torch.float32), torch.arange(gw, dtype=torch.float32), indexing="ij")
    return (rows[..., None] * a + cols[..., None] * b + c).reshape(1, gh * gw, dim), (a, b, c)


def test_a_linear_position_embedding_stays_linear_at_the_new_token_centres():
    pe, (a, b, c) = linear_grid(4, 4)
    out = resize_pos_embed(pe, (4, 4), (8, 8)).reshape(8, 8, 3)
    # new token i sits at (i + 0.5)·(4/8) - 0.5 in old-token units, clamped to the outer centres [0, 3]
    u = ((torch.arange(8) + 0.5) * 0.5 - 0.5).clamp(0, 3)
    expected = u[:, None, None] * a + u[None, :, None] * b + c
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    pe, (a, b, c) = linear_grid(8, 8)
    down = resize_pos_embed(pe, (8, 8), (4, 4)).reshape(4, 4, 3)
    u = (torch.arange(4) + 0.5) * 2 - 0.5  # 0.5, 2.5, 4.5, 6.5; the anti-aliasing filter spans ±2: exact inside
    inner = u[1:3, None, None] * a + u[None, 1:3, None] * b + c
    torch.testing.assert_close(down[1:3, 1:3], inner, rtol=1e-5, atol=1e-5)


def test_image_size_change_and_fixed_sincos_and_grid_inference():
    source = vit("vit_t/1")
    bigger = resize_vit(source, img_size=16)
    assert bigger.grid_size == (16, 16) and bigger.pos_embed.weight.shape == (1, 256, 16)
    assert torch.equal(bigger.patch_embed.proj.weight, source.patch_embed.proj.weight)
    sincos = create_model("vit_t/2", **TINY, pos_embed="sincos")
    pixel = resize_vit(sincos, patch_size=1)
    assert torch.equal(pixel.pos_embed.weight, create_model("vit_t/1", **TINY, pos_embed="sincos").pos_embed.weight)
    assert infer_grid(16, (8, 8), 2) == (4, 4) and infer_grid(8, (8, 16), 2) == (2, 4)
    with pytest.raises(ValueError, match="cannot tell the token grid"):
        infer_grid(7, (8, 8), 2)
    with pytest.raises(ValueError, match="only the linear tokenizer"):
        resize_vit(create_model("vit_t/2", **TINY, tokenizer="dictionary"), patch_size=1)
