"""A pixelvit ViT as a folder that timm opens as it is, and such folders read back.

``export_timm(model, DIR)`` writes what ``timm.create_model("local-dir:DIR", pretrained=True)`` (or
``"hf-hub:ORG/NAME"`` once uploaded) reads:

* ``config.json`` in timm's layout: ``architecture`` (a timm ViT entry point, chosen by width; it
  only names the constructor), ``model_args`` (every constructor argument, which override the entry
  point's defaults: patch size, image size, width, depth, pooling...), ``pretrained_cfg`` (input size,
  mean/std, interpolation, number of classes) and, for the record, ``pixelvit``: the model's own
  description (``pixelvit.models.hub.describe``);
* ``model.safetensors`` in timm's key layout (:func:`pixelvit.models.convert.to_timm`).

timm applies ``pretrained_cfg``'s mean/std in its data transforms; pixelvit applies the same
``pixel_mean``/``pixel_std`` inside the model to uint8 input, so both give the same logits for the
same image. Only the ``vit`` family with the linear tokenizer has a timm counterpart.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from ..io import write_json_atomic
from .convert import timm_kwargs, to_timm
from .hub import CONFIG_NAME, WEIGHTS_NAME, describe, write_weights
from .registry import family_of

# timm entry points by width (the ViT-Ti/S/B/L/H presets); ``model_args`` override every shape argument.
TIMM_ARCHITECTURES = {
    192: "vit_tiny_patch16_224",
    384: "vit_small_patch16_224",
    768: "vit_base_patch16_224",
    1024: "vit_large_patch16_224",
    1280: "vit_huge_patch14_224",
}
DEFAULT_ARCHITECTURE = "vit_base_patch16_224"
FAMILY_HINTS = {
    "mae": " (a masked autoencoder: fine-tune a ViT from it with model.init_from and export that)",
    "dense_vit": " (a per-pixel read-out head)",
    "dit": " (a diffusion transformer)",
}


def timm_unsupported_reason(model: nn.Module) -> str | None:
    """Why timm cannot represent ``model``, or None when it can."""
    family = family_of(model).name
    if family != "vit":
        hint = FAMILY_HINTS.get(family, "")
        return f"timm has no counterpart of pixelvit's {family!r} family{hint}; only plain ViTs (the 'vit' family) export"
    if model.config["tokenizer"] != "linear":
        kind = model.config["tokenizer"]
        return f"timm has no {kind!r} tokenizer (its ViT embeds patches linearly); only tokenizer='linear' exports"
    return None


def timm_config(model: nn.Module) -> dict[str, Any]:
    """timm's ``config.json`` for ``model`` (see the module docstring); a ``ValueError`` naming the reason if unsupported."""
    reason = timm_unsupported_reason(model)
    if reason:
        raise ValueError(f"cannot export to timm: {reason}")
    args = {**timm_kwargs(model), "img_size": list(model.img_size)}
    h, w = model.img_size
    pretrained_cfg = {
        "input_size": [model.in_chans, h, w],
        "fixed_input_size": True,
        "mean": list(model.pixel_mean),
        "std": list(model.pixel_std),
        "interpolation": "bicubic",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "num_classes": model.num_classes,
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        "custom_load": False,
        "notes": [f"exported by pixelvit: patch size {model.patch_size}, {model.num_patches} tokens of {h}x{w} images"],
    }
    return {
        "architecture": TIMM_ARCHITECTURES.get(model.embed_dim, DEFAULT_ARCHITECTURE),
        "num_classes": model.num_classes,
        "num_features": model.embed_dim,
        "global_pool": model.global_pool,
        "model_args": args,
        "pretrained_cfg": pretrained_cfg,
        "pixelvit": describe(model),
    }


def export_timm(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``directory/config.json`` and ``directory/model.safetensors`` for timm (atomically); returns ``directory``."""
    directory = Path(directory)
    config = timm_config(model)
    tensors = {k: v.detach().contiguous().cpu() for k, v in to_timm(model.state_dict(), model).items()}
    write_weights(directory / WEIGHTS_NAME, tensors)
    write_json_atomic(directory / CONFIG_NAME, config)
    return directory


def is_timm_folder(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a timm model folder (timm's ``config.json`` beside ``model.safetensors``)."""
    config_path = Path(directory) / CONFIG_NAME
    if not config_path.is_file() or not (Path(directory) / WEIGHTS_NAME).is_file():
        return False
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError:
        return False
    return isinstance(config, dict) and "pretrained_cfg" in config and "config" not in config


def read_timm_folder(directory: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(timm's config.json, its state dict in timm's layout) of a timm ViT folder; a ``ValueError`` for another model."""
    directory = Path(directory)
    config = json.loads((directory / CONFIG_NAME).read_text())
    state = load_file(str(directory / WEIGHTS_NAME))
    proj = state.get("patch_embed.proj.weight")
    if proj is None or proj.ndim != 4:
        raise ValueError(
            f"{directory} holds timm's {config.get('architecture')!r}, not a Vision Transformer with a patch projection "
            "(patch_embed.proj); only timm ViTs start a pixelvit ViT"
        )
    return config, state
