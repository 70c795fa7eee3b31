"""``pixelvit sample``: draw samples from a trained DiT into a PNG grid and an ADM-layout ``.npz``.

The ``.npz`` holds ``arr_0``: uint8 (N, H, W, 3) images (grey images repeated to RGB, as the ADM
evaluator feeds its TF Inception 3 channels) and ``arr_1``: int64 (N,) class labels. Sample i
depends only on (seed, i) (see :mod:`pixelvit.diffusion.samplers`). Under torchrun each rank draws
indices rank, rank + world, ...; rank 0 gathers the shards from the output folder and writes
the files, so the result equals a single-process run.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import Config
from ..data.latents import decode, load_vae, to_uint8
from ..diffusion.samplers import SamplingSpec, generate
from ..io import atomic_path, write_json_atomic


@dataclass
class SampleOptions:
    """What to draw: count, seed, classes; ``sampling``: the fields set there override the run's diffusion.sampling."""

    num: int = 16
    seed: int = 0
    batch_size: int = 64
    vae: str | None = None
    classes: list[int] | None = None  # sample i gets classes[i % len(classes)]; None: uniform from the seed
    sampling: SamplingSpec = field(default_factory=SamplingSpec)


def to_images(x: torch.Tensor, cfg: Config, vae_dir: str | None, device: torch.device) -> torch.Tensor:
    """Model-space samples (N, C, H, W) -> uint8 (N, 3, H', W'): decoded by the VAE (latent runs) or
    mapped from [-1, 1] (pixel runs); grey repeated to RGB."""
    if cfg.diffusion.space == "latent":
        vae_dir = vae_dir or cfg.diffusion.vae
        if not vae_dir:
            raise ValueError("this run was trained on VAE latents: pass --vae DIR (the VAE that encoded them) to decode samples")
        vae = load_vae(vae_dir, device)
        images = torch.cat([decode(vae, x[i : i + 16], cfg.diffusion.latent_scale) for i in range(0, len(x), 16)])
    else:
        images = to_uint8(x)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def figure_grid(images: torch.Tensor, nrow: int | None = None, min_side: int = 256, column_labels: list[str] | None = None):
    """uint8 (N, 3, H, W) -> a Figure of the grid, ``nrow`` (default ⌈√N⌉) columns, each tile at least ``min_side``/8
    px (integer upscaling); ``column_labels`` names each column (e.g. the class every sample in it was drawn for)."""
    from torchvision.utils import make_grid

    from ..plotting import figure

    n, h = len(images), images.shape[-2]
    columns = nrow or math.ceil(math.sqrt(n))
    grid = make_grid(images, nrow=columns, padding=1, pad_value=255).permute(1, 2, 0).numpy()
    scale, dpi = max(1, math.ceil(min_side / 8 / h)), 100
    fig, axes = figure(size=(grid.shape[1] * scale / dpi + 0.8, grid.shape[0] * scale / dpi + 0.8))
    ax = axes[0, 0]
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([])
    if column_labels:
        column_labels, step = column_labels[: min(columns, n)], images.shape[-1] + 1
        ax.set_xticks([1 + c * step + (step - 2) / 2 for c in range(len(column_labels))], column_labels, fontsize=8)
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        ax.set_xlabel("class label (one class per column)", fontsize=8)
        ax.set_ylabel(f"samples ({math.ceil(n / columns)} per class)", fontsize=8)
        ax.tick_params(length=0)
    else:
        ax.set_xticks([])
        ax.set_axis_off()
    return fig, dpi


def save_grid(
    images: torch.Tensor, path: Path, nrow: int | None = None, min_side: int = 256, column_labels: list[str] | None = None
) -> Path:
    """Write :func:`figure_grid` as a PNG at its tiles' pixel scale."""
    from ..plotting import save_figure

    fig, dpi = figure_grid(images, nrow, min_side, column_labels)
    return save_figure(fig, path, dpi=dpi)


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """ADM layout: arr_0 uint8 (N, H, W, 3), arr_1 labels; written atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, arr_0=images, arr_1=labels)


def sample_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, opts: SampleOptions, device: str = "auto") -> dict:
    """Draw ``opts.num`` samples from a run / model directory / checkpoint into ``out``; returns what was written."""
    from ..engine.distributed import init_distributed
    from ..engine.loading import load_model_and_config
    from ..tasks.diffusion import resolve_sampling, sampling_process

    model, cfg = load_model_and_config(Path(checkpoint))
    if cfg is None or cfg.task != "diffusion":
        raise ValueError(f"{checkpoint} is not a diffusion run (no run config with task: diffusion next to it)")
    d = cfg.diffusion
    spec = resolve_sampling(d, opts.sampling)
    dist_info = init_distributed(device)
    rank, world, dev = dist_info.rank, dist_info.world_size, dist_info.device
    indices = list(range(rank, opts.num, world))
    labels = None
    if opts.classes:
        labels = torch.tensor([opts.classes[i % len(opts.classes)] for i in indices])
    x, labels = generate(
        model, sampling_process(d, spec), spec, indices, opts.seed, labels, clip_denoised=d.space == "pixel", device=dev,
        batch_size=opts.batch_size, autocast=dev.type == "cuda", progress=rank == 0,
    )  # fmt: skip
    images = to_images(x, cfg, opts.vae, dev)
    out = Path(out)
    images, labels = _gather(out, rank, world, images.permute(0, 2, 3, 1).numpy(), labels.numpy(), opts.num)
    info = {"num": opts.num, "seed": opts.seed, "objective": d.objective, **asdict(spec)}
    if rank == 0:
        save_npz(out / "samples.npz", images, labels)
        columns = len(opts.classes) if opts.classes else 8  # with --classes, one class per column
        labels_shown = [str(c) for c in opts.classes] if opts.classes else None
        grid = torch.from_numpy(images[: columns * 8]).permute(0, 3, 1, 2)
        save_grid(grid, out / "grid.png", nrow=columns, column_labels=labels_shown)
        write_json_atomic(out / "samples.json", {**info, "checkpoint": str(checkpoint), "shape": list(images.shape)})
    return {**info, "npz": str(out / "samples.npz"), "grid": str(out / "grid.png")}


def _gather(out: Path, rank: int, world: int, images: np.ndarray, labels: np.ndarray, num: int) -> tuple[np.ndarray, np.ndarray]:
    """Single process: as given. Distributed: each rank writes its shard, rank 0 interleaves them back into index order."""
    if world == 1:
        return images, labels
    import torch.distributed as dist

    shard = out / "shards" / f"rank{rank:04d}.npz"
    save_npz(shard, images, labels)
    dist.barrier()
    if rank == 0:
        full = np.empty((num, *images.shape[1:]), dtype=np.uint8)
        all_labels = np.empty(num, dtype=np.int64)
        for r in range(world):
            with np.load(out / "shards" / f"rank{r:04d}.npz") as z:
                full[r::world], all_labels[r::world] = z["arr_0"], z["arr_1"]
        images, labels = full, all_labels
    dist.barrier()
    if rank == 0:
        for r in range(world):
            (out / "shards" / f"rank{r:04d}.npz").unlink(missing_ok=True)
    return images, labels
