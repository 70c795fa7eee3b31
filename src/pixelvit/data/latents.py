"""Latent space for DiT: the Stable Diffusion VAE, and datasets encoded once into a cached latent array.

The reference DiT re-encodes every training image through the VAE at every step. Here
``pixelvit prepare-latents`` encodes a dataset once: FILE.npy holds float16 (N, F, C, h, w) latents
already multiplied by the scale (0.18215), F = 2 with horizontal-flip variants (index 1 is the
encoding of the mirrored image), FILE.labels.npy the int64 (N,) classes, FILE.json what produced
them. All three are written atomically. Training picks a flip variant per sample from its seed, so
it never runs the VAE.

The VAE is diffusers' ``AutoencoderKL`` read from a local directory in the sd-vae-ft-ema /
sd-vae-ft-mse layout (``config.json`` + ``diffusion_pytorch_model.safetensors``); nothing is
downloaded and no pickle is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..io import atomic_path, write_json_atomic
from .cache import save_npy_atomic

LATENT_SCALE = 0.18215
VAE_FILES = ("config.json", "diffusion_pytorch_model.safetensors")
HOW_TO_GET_VAE = (
    "DiT's latent space is the Stable Diffusion VAE. Download one of\n"
    "  https://huggingface.co/stabilityai/sd-vae-ft-ema  (the reference's default)\n"
    "  https://huggingface.co/stabilityai/sd-vae-ft-mse\n"
    "into a folder holding config.json and diffusion_pytorch_model.safetensors, e.g.\n"
    "  hf download stabilityai/sd-vae-ft-ema config.json diffusion_pytorch_model.safetensors \\\n"
    "      --local-dir vae/sd-vae-ft-ema\n"
    "and pass that folder (--vae vae/sd-vae-ft-ema)."
)


def load_vae(directory: str | os.PathLike, device: str | torch.device = "cpu"):
    """diffusers ``AutoencoderKL`` from a local sd-vae directory (safetensors only, offline), in eval mode."""
    directory = Path(directory)
    missing = [name for name in VAE_FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"VAE directory {directory} lacks {', '.join(missing)}.\n{HOW_TO_GET_VAE}")
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(str(directory), local_files_only=True, use_safetensors=True).to(device).eval()


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float in [-1, 1] (x / 127.5 − 1)."""
    return images.float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (B, C, H, W) -> uint8, as the reference's sampler: clamp(127.5·x + 128, 0, 255)."""
    return torch.clamp(127.5 * x + 128.0, 0, 255).to(torch.uint8)


@torch.no_grad()
def encode(vae, images: torch.Tensor, posterior: str = "sample", generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 (B, C, H, W) images -> scaled latents (B, 4, H/8, W/8) (grey images are repeated to RGB).
    posterior: "sample" (as the reference's training) or "mean"."""
    x = to_unit_range(images.to(next(vae.parameters()).device))
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    dist = vae.encode(x).latent_dist
    z = dist.sample(generator=generator) if posterior == "sample" else dist.mean
    return z * LATENT_SCALE


@torch.no_grad()
def decode(vae, latents: torch.Tensor, scale: float = LATENT_SCALE) -> torch.Tensor:
    """Scaled latents (B, 4, h, w) -> uint8 images (B, 3, 8h, 8w)."""
    x = vae.decode(latents.to(next(vae.parameters()).device, next(vae.parameters()).dtype) / scale).sample
    return to_uint8(x.float()).cpu()


def latent_paths(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """FILE.npy -> (FILE.npy, FILE.labels.npy, FILE.json)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix == ".npy" else path
    return stem.with_suffix(".npy"), stem.with_name(stem.name + ".labels.npy"), stem.with_name(stem.name + ".json")


def write_latents(path: str | os.PathLike, latents: np.ndarray, labels: np.ndarray, meta: dict[str, Any]) -> Path:
    """Write a latent cache from arrays in memory (float16 (N, F, C, h, w), int64 (N,)); see the module docstring."""
    data, labels_path, meta_path = latent_paths(path)
    with atomic_path(data) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(latents, dtype=np.float16))
    save_npy_atomic(labels_path, np.asarray(labels, dtype=np.int64))
    write_json_atomic(meta_path, {**meta, "shape": list(latents.shape)})
    return data


def prepare_latents(
    vae_dir: str | os.PathLike,
    data: str,
    root: str | os.PathLike | None,
    out: str | os.PathLike,
    split: str = "train",
    img_size: int | None = 256,
    batch_size: int = 32,
    flip: bool = True,
    posterior: str = "sample",
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Path:
    """Encode split ``split`` of dataset ``data`` (fitted to img_size; None: native size) into the cache ``out``."""
    from .registry import get_dataset_spec, load_arrays

    vae = load_vae(vae_dir, device)  # fails before any decoding when the VAE is missing
    arrays = load_arrays(data, root, split, img_size)
    images, n = arrays.images, len(arrays.images)
    generator = torch.Generator(device=device).manual_seed(seed)
    variants = 2 if flip else 1
    data_path, labels_path, meta_path = latent_paths(out)
    batches = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=f"encoding {data}/{split}", disable=None)
    with atomic_path(data_path) as tmp:
        array = None
        for lo in batches:
            x = torch.from_numpy(np.ascontiguousarray(images[lo : lo + batch_size]))
            z = [encode(vae, x, posterior, generator)] + ([encode(vae, x.flip(-1), posterior, generator)] if flip else [])
            z = torch.stack(z, dim=1).cpu().numpy().astype(np.float16)  # (B, F, C, h, w)
            if array is None:
                array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(n, variants, *z.shape[2:]))
            array[lo : lo + len(z)] = z
        array.flush()
        shape = list(array.shape)
        del array
    save_npy_atomic(labels_path, np.asarray(arrays.targets, dtype=np.int64))
    meta = {
        "data": get_dataset_spec(data).name, "split": split, "image_size": list(arrays.image_size), "count": n,
        "flip": flip, "posterior": posterior, "seed": seed, "scale": LATENT_SCALE, "vae": Path(vae_dir).name,
        "num_classes": len(arrays.classes) or int(arrays.targets.max()) + 1, "shape": shape,
    }  # fmt: skip
    write_json_atomic(meta_path, meta)
    return data_path


class LatentDataset(Dataset):
    """Items (index, seed) -> (float32 (C, h, w) latent, label). With flip variants, variant 1 (mirrored)
    is taken with probability ``hflip`` drawn from the seed; ``hflip=0`` always gives the original."""

    def __init__(self, path: str | os.PathLike, hflip: float = 0.0, limit: int | None = None):
        data, labels, meta = latent_paths(path)
        for p in (data, labels, meta):
            if not p.is_file():
                raise FileNotFoundError(
                    f"latent cache file {p} not found: encode the dataset first with "
                    f"`pixelvit prepare-latents --vae VAE_DIR --data NAME --root ROOT --out {data}`"
                )
        self.latents = np.load(data, mmap_mode="r")
        self.labels = np.load(labels)
        self.meta = json.loads(meta.read_text())
        if self.latents.ndim != 5 or len(self.latents) != len(self.labels):
            raise ValueError(
                f"{data}: expected (N, F, C, h, w) latents and N labels, got {self.latents.shape} / {self.labels.shape}"
            )
        self.size = len(self.labels) if limit is None else min(limit, len(self.labels))
        self.hflip = hflip if self.latents.shape[1] > 1 else 0.0

    @property
    def num_classes(self) -> int:
        return int(self.meta.get("num_classes", int(self.labels.max()) + 1))

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.latents.shape[2:])

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        i, seed = item if isinstance(item, tuple) else (item, None)
        variant = 0
        if self.hflip > 0 and seed is not None:
            variant = int(torch.rand(1, generator=torch.Generator().manual_seed(seed)).item() < self.hflip)
        latent = torch.from_numpy(np.array(self.latents[i, variant], dtype=np.float32))
        return latent, torch.tensor(int(self.labels[i]))
