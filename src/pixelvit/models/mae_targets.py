"""What a masked autoencoder predicts for each masked token: p·p·C values, three ways.

All targets start from the image normalised with the dataset statistics (the model's
``pixel_mean`` / ``pixel_std``, the same normalisation the tokenizer applies to uint8 input), and are
laid out like the tokenizer's input: each token's values in **(C, p, p)** order
(:func:`pixelvit.models.tokenizers.patchify`). The reference MAE code flattens patches in
(p, p, C) order instead (``einsum('nchpwq->nhwpqc')``); per-patch means and variances do not
depend on the order, so our targets are the reference's with each token's values permuted.

* ``pixels``: the normalised pixels themselves. Defined identically at every patch size.
* ``local_norm``: each pixel normalised, per channel, by the mean and variance of its k×k
  neighbourhood, ``(x − mean_k(x)) / sqrt(var_k(x) + 1e-6)``, computed with ``avg_pool2d`` over the
  whole image (stride 1), so it means the same thing at p = 1 and p = 16. Borders use **reflect**
  padding (the window is mirrored into the image, so every window holds k² real pixel values;
  even k pads one more pixel on the bottom/right). The variance is unbiased (× k²/(k²−1)), as in the
  reference ``norm_pix_loss`` (``Tensor.var``). This is the p = 1 analogue of MAE's per-patch
  normalisation: it keeps local contrast (edges, texture) and drops slow changes of brightness.
* ``patch_norm``: the reference MAE's ``norm_pix_loss``: each token's p·p·C values normalised by
  their own mean and unbiased variance (eps 1e-6). Only for p >= 2.

Why ``patch_norm`` is refused at p = 1: a "patch" is then one pixel, and the normalisation runs
over its C values alone. For RGB the target of every pixel is its 3 values minus their mean,
divided by their standard deviation: it always sums to 0 and has squared norm 2 (C − 1), so it lies
on one circle and every entry is within ±2/√3 ≈ ±1.155 (±√2 with a population variance). The
pixel's brightness (the mean) and its saturation (the spread) are erased; only a hue-like angle is
left, and grey pixels (equal values) all map to 0 whatever their brightness. The target has lost all
luminance information, so the model is trained to predict colour direction, not the image. With one
channel the variance of a single value is undefined (0/0). Use ``local_norm`` (or ``pixels``) there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .tokenizers import patchify

TARGET_KINDS = ("pixels", "local_norm", "patch_norm")
NORM_EPS = 1e-6


def check_target(kind: str, patch_size: int, local_norm_window: int = 3) -> None:
    """Refuse unknown targets, ``patch_norm`` at p = 1, and local windows that hold fewer than 2 pixels."""
    if kind not in TARGET_KINDS:
        raise ValueError(f"unknown MAE target {kind!r}; choose one of {TARGET_KINDS}")
    if kind == "patch_norm" and patch_size < 2:
        raise ValueError(
            "target='patch_norm' (the reference MAE's norm_pix_loss) is wrong at patch size 1: it would normalise "
            "each pixel's channel values by their own mean and variance, erasing brightness and leaving a "
            "constant-norm colour pattern (entries within ±1.155) with no luminance information. "
            "Use target='local_norm' (normalise by a k×k neighbourhood) or target='pixels'"
        )
    if kind == "local_norm" and local_norm_window < 2:
        raise ValueError(f"local_norm_window={local_norm_window} must be >= 2 (a variance needs at least two pixels)")


def normalize_images(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 ``(x/255 − mean) / std``; float input is taken as already normalised.

    mean, std: (1, C, 1, 1) in [0, 1] units.
    """
    if images.dtype == torch.uint8:
        return (images.float() / 255.0 - mean) / std
    return images.float()


def local_stats(x: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and unbiased variance of each pixel's window×window neighbourhood.

    x: (B, C, H, W) -> (mean, var), each (B, C, H, W), float32. Reflect padding at the borders.
    """
    h, w = x.shape[-2:]
    before, after = (window - 1) // 2, window // 2
    if after >= min(h, w):
        raise ValueError(f"local_norm_window={window} is too large for {h}x{w} images; use a window of at most {min(h, w)}")
    xp = F.pad(x.double(), (before, after, before, after), mode="reflect")
    mean = F.avg_pool2d(xp, window, stride=1)
    n = window * window
    var = (F.avg_pool2d(xp * xp, window, stride=1) - mean * mean).clamp_min(0) * (n / (n - 1))
    return mean.float(), var.float()


def patch_stats(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L, K) -> mean and unbiased variance over each token's K values, each (B, L, 1)."""
    return tokens.mean(dim=-1, keepdim=True), tokens.var(dim=-1, keepdim=True)


@torch.no_grad()
def compute_target(kind: str, x: torch.Tensor, patch_size: int, local_norm_window: int = 3) -> torch.Tensor:
    """Normalised images (B, C, H, W) -> targets (B, L, C·p·p) in (C, p, p) order."""
    check_target(kind, patch_size, local_norm_window)
    with torch.autocast(x.device.type, enabled=False):
        x = x.float()
        if kind == "local_norm":
            mean, var = local_stats(x, local_norm_window)
            x = (x - mean) / (var + NORM_EPS).sqrt()
        tokens = patchify(x, patch_size)
        if kind == "patch_norm":
            mean, var = patch_stats(tokens)
            tokens = (tokens - mean) / (var + NORM_EPS).sqrt()
    return tokens


@torch.no_grad()
def target_to_pixels(kind: str, pred: torch.Tensor, x: torch.Tensor, patch_size: int, local_norm_window: int = 3) -> torch.Tensor:
    """Invert a target for display: predictions (B, L, C·p·p) -> normalised pixels (B, L, C·p·p).

    Normalised targets carry no statistics of their own, so this borrows the true local (or patch)
    mean and variance of the original images ``x`` (B, C, H, W), as the reference MAE demo does.
    """
    check_target(kind, patch_size, local_norm_window)
    pred = pred.float()
    x = x.float()
    if kind == "pixels":
        return pred
    if kind == "local_norm":
        mean, var = local_stats(x, local_norm_window)
        return pred * patchify((var + NORM_EPS).sqrt(), patch_size) + patchify(mean, patch_size)
    mean, var = patch_stats(patchify(x, patch_size))
    return pred * (var + NORM_EPS).sqrt() + mean
