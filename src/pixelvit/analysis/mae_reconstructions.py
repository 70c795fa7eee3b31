"""MAE reconstructions (``pixelvit mae-show``): a PNG of original / masked / reconstruction for a few images and an MAE.

One row per image. Columns: the original, the masked input (masked tokens in a muted blue), and the
reconstruction with the visible tokens pasted back (as in the MAE paper's figures). Normalised
targets (``local_norm``, ``patch_norm``) are turned back into pixels with the original image's
local or per-patch statistics, as the reference MAE demo does.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..io import atomic_path

COLUMNS = ("original", "masked", "reconstruction")
MASK_COLOUR = (70, 90, 150)  # masked tokens: a muted blue, distinct from any grey pixel
PAD = 2
HEADER = 14


def to_uint8(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """Normalised (B, C, H, W) -> uint8 (B, H, W, 3) (grey images repeated to RGB)."""
    x = ((x.float().cpu() * std.cpu() + mean.cpu()).clamp(0, 1) * 255).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return x.permute(0, 2, 3, 1).numpy()


def render_grid(rows: list[list[np.ndarray]], scale: int) -> Image.Image:
    """rows of equally sized uint8 (H, W, 3) tiles -> one image, tiles upscaled ``scale``× (nearest), labelled columns."""
    h, w = rows[0][0].shape[:2]
    th, tw = h * scale, w * scale
    cols = len(rows[0])
    canvas = Image.new("RGB", (cols * (tw + PAD) + PAD, HEADER + len(rows) * (th + PAD) + PAD), "white")
    draw = ImageDraw.Draw(canvas)
    for j, name in enumerate(COLUMNS[:cols]):
        draw.text((PAD + j * (tw + PAD), 1), name, fill="black")
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            img = Image.fromarray(tile).resize((tw, th), Image.NEAREST)
            canvas.paste(img, (PAD + j * (tw + PAD), HEADER + PAD + i * (th + PAD)))
    return canvas


def mae_show(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    data: str | None = None,
    root: str | None = None,
    split: str | None = None,
    num: int = 8,
    seed: int = 0,
    device: str = "cpu",
) -> Path:
    """Write the PNG for the first ``num`` images of ``split`` (default: the run's eval split); returns its path."""
    from ..config import ConfigError
    from ..data.splits import load_split
    from ..engine.device import resolve_device
    from ..engine.loading import config_for_model, load_model_and_config
    from ..models.mae import MaskedAutoencoder

    if num < 1:
        raise ConfigError(f"--num {num}: show at least one image")
    model, cfg = load_model_and_config(Path(checkpoint))
    if not isinstance(model, MaskedAutoencoder):
        raise ConfigError(f"{checkpoint} holds a {type(model).__name__}, not a masked autoencoder (task: mae)")
    cfg = config_for_model(model, cfg, checkpoint, data, root, task="mae")
    _, arrays = load_split(cfg.data, split or cfg.data.eval_split, num)
    dev = resolve_device(device)
    model = model.to(dev).eval()
    images = torch.from_numpy(np.ascontiguousarray(arrays.images)).to(dev)
    views = model.reconstruct(images, torch.Generator(device=dev).manual_seed(seed))
    mean, std = model.pixel_mean, model.pixel_std
    original = to_uint8(views["input"], mean, std)
    masked = to_uint8(views["masked"], mean, std)
    masked[views["pixel_mask"][:, 0].bool().cpu().numpy()] = MASK_COLOUR
    pasted = to_uint8(views["pasted"], mean, std)
    scale = max(1, math.ceil(96 / max(model.img_size)))
    grid = render_grid([[original[i], masked[i], pasted[i]] for i in range(len(original))], scale)
    out = Path(out)
    with atomic_path(out) as tmp:
        grid.save(tmp, format="PNG")
    return out
