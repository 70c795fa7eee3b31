"""Model files: ``model.safetensors`` (weights) + ``config.json`` (how to rebuild). No pickle, ever."""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from ..io import atomic_path, write_json_atomic

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


# architecture name (as written in config.json) -> "module:Class"; imported on use.
ARCHITECTURES = {
    "vit": "pixelvit.models.vit:VisionTransformer",
    "dit": "pixelvit.models.dit:DiT",
    "dense_vit": "pixelvit.models.dense:DenseViT",
    "mae": "pixelvit.models.mae:MaskedAutoencoder",
}


def _architectures() -> dict[str, type]:
    import importlib

    out = {}
    for name, target in ARCHITECTURES.items():
        module, cls = target.split(":")
        out[name] = getattr(importlib.import_module(module), cls)
    return out


def _architecture_name(model: nn.Module) -> str:
    for name, cls in _architectures().items():
        if isinstance(model, cls):  # FSDP2 subclasses the model class in place
            return name
    raise TypeError(f"save_pretrained does not know how to describe a {type(model).__name__}")


def save_pretrained(model: nn.Module, directory: str | os.PathLike, state_dict: dict | None = None) -> Path:
    """Write ``directory/model.safetensors`` and ``directory/config.json`` atomically.

    ``state_dict`` (optional) replaces ``model.state_dict()``, e.g. a full state gathered from FSDP shards.
    """
    directory = Path(directory)
    state = model.state_dict() if state_dict is None else state_dict
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    write_json_atomic(directory / CONFIG_NAME, describe(model))
    return directory


def from_pretrained(directory: str | os.PathLike, **overrides) -> nn.Module:
    """Rebuild a model saved by :func:`save_pretrained` and load its weights (strict).

    ``overrides`` change constructor arguments that do not alter the weights' shapes
    (e.g. ``drop_path_rate``).
    """
    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for p in (config_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p} not found: a model directory holds {CONFIG_NAME} and {WEIGHTS_NAME} (see save_pretrained)"
            )
    model = build_from_description(json.loads(config_path.read_text()), str(config_path), **overrides)
    model.load_state_dict(load_file(str(weights_path)), strict=True)
    return model


def describe(model: nn.Module) -> dict:
    """{"architecture": name, "config": constructor arguments}: enough to rebuild ``model``."""
    return {"architecture": _architecture_name(model), "config": dict(model.config)}


def build_from_description(meta: dict, source: str = "model description", **overrides) -> nn.Module:
    """Inverse of :func:`describe` (fresh weights)."""
    archs = _architectures()
    if meta.get("architecture") not in archs:
        raise ValueError(f"{source}: unknown architecture {meta.get('architecture')!r}; known: {sorted(archs)}")
    return archs[meta["architecture"]](**{**meta["config"], **overrides})
