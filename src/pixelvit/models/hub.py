"""Model files: ``model.safetensors`` (weights) + ``config.json`` (how to rebuild). No pickle, ever."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from ..io import atomic_path, write_json_atomic
from .registry import family_of, get_family

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


# Constructor arguments renamed since older model files were written: architecture -> {old: new}.
RENAMED_ARGUMENTS = {"dit": {"input_size": "img_size", "in_channels": "in_chans"}}


def upgrade_config(architecture: str, config: dict[str, Any]) -> dict[str, Any]:
    """A ``config.json`` / checkpoint config of any pixelvit version -> today's constructor arguments.

    DiT: ``input_size`` -> ``img_size``, ``in_channels`` -> ``in_chans``. MAE: the nested ``encoder``
    dict is flattened into the MAE's own arguments (its forced ``num_classes=0`` dropped).
    """
    renames = RENAMED_ARGUMENTS.get(architecture, {})
    config = {renames.get(k, k): v for k, v in config.items()}
    if architecture == "mae" and isinstance(config.get("encoder"), dict):
        encoder = {k: v for k, v in config.pop("encoder").items() if k != "num_classes"}
        config = {**encoder, **config}
    return config


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


def from_pretrained(directory: str | os.PathLike, **overrides: Any) -> nn.Module:
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
    return {"architecture": family_of(model).name, "config": dict(model.config)}


def build_from_description(meta: dict, source: str = "model description", **overrides: Any) -> nn.Module:
    """Inverse of :func:`describe` (fresh weights); also reads descriptions written by older versions."""
    try:
        family = get_family(meta.get("architecture"))
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    return family.cls(**{**upgrade_config(family.name, meta["config"]), **overrides})
