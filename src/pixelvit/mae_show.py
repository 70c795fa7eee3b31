"""``pixelvit mae-show``: a PNG of original / masked / reconstruction for a few images and an MAE.

One row per image. Columns: the original, the masked input (masked tokens in a muted blue), and the
reconstruction with the visible tokens pasted back (as in the MAE paper's figures). Normalised
targets (``local_norm``, ``patch_norm``) are turned back into pixels with the original image's
local or per-patch statistics, as the reference MAE demo does.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .io import atomic_path

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
    from .config import Config, ConfigError
    from .engine.precision import resolve_device
    from .models.mae import MaskedAutoencoder
    from .runner import load_model_and_config
    from .tasks.classify import load_split

    if num < 1:
        raise ConfigError(f"--num {num}: show at least one image")
    model, cfg = load_model_and_config(Path(checkpoint))
    if not isinstance(model, MaskedAutoencoder):
        raise ConfigError(f"{checkpoint} holds a {type(model).__name__}, not a masked autoencoder (task: mae)")
    if cfg is None and data is None:
        raise ConfigError(f"{checkpoint} carries no training config: pass --data NAME (and --root)")
    cfg = cfg or Config()
    if data is not None:
        cfg.data.name, cfg.data.root = data, root
    elif root is not None:
        cfg.data.root = root
    cfg.data.img_size = list(model.img_size)
    _, arrays = load_split(cfg, split or cfg.data.eval_split, num)
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


def cmd_mae_show(args: argparse.Namespace) -> int:
    path = mae_show(args.checkpoint, args.out, args.data, args.root, args.split, args.num, args.seed, args.device)
    print(f"wrote {path}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("mae-show", help="PNG grid of original / masked / reconstruction from an MAE (task: mae)")
    p.add_argument("checkpoint", help="an MAE run directory, model directory or step_*.pt checkpoint")
    p.add_argument("--data", help="dataset name (default: the one the model was trained on)")
    p.add_argument("--root", help="dataset root folder")
    p.add_argument("--split", help="split to draw images from (default: the config's eval split)")
    p.add_argument("--num", type=int, default=8, help="number of images (rows), the first of the split (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random masks (default 0)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=cmd_mae_show)
