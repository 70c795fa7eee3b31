"""Reconstruction targets: the reference norm_pix_loss at p=16, its refusal at p=1, local_norm by hand."""

import math

import pytest
import torch

from pixelvit.config import ConfigError, load_config
from pixelvit.models import create_model
from pixelvit.models.mae import masked_mse
from pixelvit.models.mae_targets import compute_target, local_stats, normalize_images, target_to_pixels
from pixelvit.models.tokenizers import patchify

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster on a shared 2-core machine

EMPTY = None  # load_config(None, overrides): defaults + overrides


def reference_patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """facebookresearch/mae models_mae.py ``patchify`` (square RGB only): (N, 3, H, W) -> (N, L, p*p*3)."""
    h = w = imgs.shape[2] // p
    x = imgs.reshape(imgs.shape[0], 3, h, p, w, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(imgs.shape[0], h * w, p**2 * 3)


def reference_norm_pix_target(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """facebookresearch/mae ``forward_loss`` with ``norm_pix_loss=True``, target part."""
    target = reference_patchify(imgs, p)
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return (target - mean) / (var + 1.0e-6) ** 0.5


def to_reference_order(tokens: torch.Tensor, c: int, p: int) -> torch.Tensor:
    """Our (C, p, p) token layout -> the reference (p, p, C) layout."""
    b, n, _ = tokens.shape
    return tokens.reshape(b, n, c, p, p).permute(0, 1, 3, 4, 2).reshape(b, n, -1)


def test_patch_norm_equals_the_reference_formula_at_p16():
    x = torch.randn(2, 3, 32, 32) * 1.7 + 0.3
    ours = compute_target("patch_norm", x, 16)
    ref = reference_norm_pix_target(x, 16)
    assert ours.shape == ref.shape == (2, 4, 768)
    torch.testing.assert_close(to_reference_order(ours, 3, 16), ref, rtol=1e-5, atol=1e-5)
    # and the loss: the same masked MSE as the reference's whatever the value order
    pred, mask = torch.randn(2, 4, 768), torch.tensor([[1.0, 0, 1, 1], [0, 1, 1, 1]])
    ref_loss = ((to_reference_order(pred, 3, 16) - ref) ** 2).mean(dim=-1)
    ref_loss = (ref_loss * mask).sum() / mask.sum()
    torch.testing.assert_close(masked_mse(pred, ours, mask), ref_loss)


def test_pixels_target_is_the_tokenizer_patchify_of_the_normalised_image():
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    norm = normalize_images(x, mean, std)
    torch.testing.assert_close(norm, (x.float() / 255 - mean) / std)
    target = compute_target("pixels", norm, 2)
    assert torch.equal(target, patchify(norm, 2))
    # (C, p, p) order: token 0 holds channel 0's top-left 2x2 block first, then channel 1's, ...
    assert torch.equal(target[0, 0], norm[0, :, :2, :2].reshape(-1))


def test_patch_norm_is_refused_at_p1_with_the_reason():
    with pytest.raises(ValueError, match=r"wrong at patch size 1.*erasing brightness.*local_norm"):
        compute_target("patch_norm", torch.randn(1, 3, 4, 4), 1)
    with pytest.raises(ValueError, match=r"wrong at patch size 1"):
        create_model("mae_vit_t/1", target="patch_norm", img_size=8, embed_dim=16, depth=1, num_heads=2)
    with pytest.raises(ConfigError, match=r"wrong at patch size 1"):
        load_config(EMPTY, ["task=mae", "mae.target=patch_norm", "model.name=vit_t/1"])
    assert load_config(EMPTY, ["task=mae", "mae.target=patch_norm", "model.name=vit_t/2"]).mae.target == "patch_norm"


def test_why_per_patch_normalisation_is_wrong_at_p1():
    """The reference formula at p=1: every target sums to 0 with squared norm 2 (entries within ±2/√3),
    so brightness is gone: a dark and a bright pixel of the same hue get the same target, greys get 0."""
    x = torch.randn(1, 3, 16, 16)  # normalised pixels
    t = reference_norm_pix_target(x, 1)
    torch.testing.assert_close(t.sum(-1), torch.zeros(1, 256), atol=1e-4, rtol=0)
    torch.testing.assert_close(t.pow(2).sum(-1), torch.full((1, 256), 2.0), atol=1e-2, rtol=0)  # eps: 1e-6
    assert t.abs().max() <= 2 / math.sqrt(3) + 1e-6
    # one 2x2 image: a dark and a bright pixel of the same hue, a dark and a bright grey
    pixels = torch.tensor([[0.1, 0.2, 0.3], [0.6, 0.7, 0.8], [0.1, 0.1, 0.1], [0.9, 0.9, 0.9]])
    t = reference_norm_pix_target(pixels.T.reshape(1, 3, 2, 2), 1)[0]
    torch.testing.assert_close(t[0], t[1], atol=1e-3, rtol=0)
    assert t[2:].abs().max() < 1e-3  # float rounding of the mean only


def test_local_norm_on_a_hand_made_image():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)  # rows 0 1 2 3 / 4 5 6 7 / 8 9 10 11 / 12 13 14 15
    t = compute_target("local_norm", x, 1, local_norm_window=3).reshape(4, 4)
    # interior: the 3x3 window around 5 is 0 1 2 4 5 6 8 9 10, mean 5 -> target 0
    assert t[1, 1].abs() < 1e-6 and t[2, 2].abs() < 1e-6
    # corner (0, 0), reflect padding: window 5 4 5 / 1 0 1 / 5 4 5, mean 10/3, unbiased var 34/8
    torch.testing.assert_close(t[0, 0], torch.tensor((0 - 10 / 3) / math.sqrt(34 / 8 + 1e-6)))
    mean, var = local_stats(x, 3)
    torch.testing.assert_close(mean[0, 0, 1, 1], torch.tensor(5.0))
    torch.testing.assert_close(var[0, 0, 1, 1], torch.tensor(102 / 8))
    # even window 2 pads after: pixel (0, 0) sees 0 1 / 4 5, mean 2.5, unbiased var 17/3
    t2 = compute_target("local_norm", x, 1, local_norm_window=2).reshape(4, 4)
    torch.testing.assert_close(t2[0, 0], torch.tensor(-2.5 / math.sqrt(17 / 3 + 1e-6)))
    # a flat image has target 0 everywhere
    assert compute_target("local_norm", torch.full((1, 3, 5, 5), 0.7), 1).abs().max() < 1e-6


def test_local_norm_is_per_channel_and_invariant_to_each_channels_scale_and_shift():
    a = torch.rand(2, 1, 6, 6)
    x = torch.cat([a, 10 * a + 3, -0.5 * a], dim=1)
    t = compute_target("local_norm", x, 2, local_norm_window=3).reshape(2, 9, 3, 2, 2)
    torch.testing.assert_close(t[:, :, 1], t[:, :, 0], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(t[:, :, 2], -t[:, :, 0], atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize(
    ("kind", "p"), [("pixels", 1), ("local_norm", 1), ("local_norm", 2), ("patch_norm", 2), ("patch_norm", 4)]
)
def test_target_to_pixels_inverts_each_target(kind, p):
    x = torch.randn(2, 3, 8, 8)
    back = target_to_pixels(kind, compute_target(kind, x, p), x, p)
    torch.testing.assert_close(back, patchify(x, p), atol=1e-4, rtol=1e-4)


def test_local_norm_window_too_large_is_refused():
    with pytest.raises(ValueError, match=r"too large for 4x4 images"):
        compute_target("local_norm", torch.randn(1, 1, 4, 4), 1, local_norm_window=9)
