"""Open what a run left behind: a model and the config it was trained with, from a run directory,
a model directory or a checkpoint file; and the config to read data for that model with."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import Config, ConfigError, DataConfig, parse_config
from ..errors import first_line

WEIGHTS_INFO = "weights.json"  # beside a run's final/ and best/ model: which weights (raw or EMA), step and epoch


def load_model_and_config(path: str | os.PathLike, source: dict[str, Any] | None = None) -> tuple[torch.nn.Module, Config | None]:
    """A model directory, a run directory (final/ or best/, else newest checkpoint) or a ``step_*.pt`` file
    -> (model, the run's config or None when a bare model directory carries none).

    ``source``, when given, is filled with what was loaded: ``path`` (the model folder or checkpoint file),
    ``weights`` ("ema", "raw" or "unknown"), ``step`` and ``epoch`` (None when not recorded).
    """
    from ..models.hub import from_pretrained
    from .checkpoint import latest_valid_checkpoint, load_checkpoint

    path = Path(path)
    source = source if source is not None else {}
    if path.is_file():
        state = {**load_checkpoint(path, required=MODEL_ENTRIES), "path": str(path)}
        return _from_state(state, path, source)
    if (path / "config.json").is_file():
        run_cfg = path.parent / "config.yaml"
        cfg = recorded_config({"config": _read_yaml(run_cfg), "path": str(run_cfg)}) if run_cfg.is_file() else None
        source.update(model_dir_info(path, cfg))
        return from_pretrained(path), cfg
    if (path / "config.yaml").is_file():
        for sub in ("final", "best"):
            if (path / sub / "config.json").is_file():
                return load_model_and_config(path / sub, source)
        state = latest_valid_checkpoint(path, required=MODEL_ENTRIES)
        if state is not None:
            return _from_state(state, Path(state["path"]), source)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: pass a run directory, a model directory or a step_*.pt checkpoint")
    raise FileNotFoundError(
        f"{path} is neither a model directory (config.json + model.safetensors), a run directory, nor a checkpoint"
    )


# What a checkpoint must hold to rebuild its model and config (a plain state dict does not).
MODEL_ENTRIES = {"model": dict, "model_description": dict, "config": dict}


def recorded_config(state: dict[str, Any]) -> Config:
    """The run config a checkpoint (or config.yaml) recorded; a ConfigError naming its file when it is malformed."""
    try:
        return parse_config(state["config"], strict=False)
    except ConfigError as e:
        raise ConfigError(f"{state['path']}: the recorded config is malformed: {e}") from None


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
        raise ConfigError(f"{path} is not valid YAML ({first_line(e)})") from None


def _from_state(state: dict[str, Any], path: Path, source: dict[str, Any]) -> tuple[torch.nn.Module, Config]:
    """A training checkpoint's model (its raw weights, not its EMA) and config; ``source`` says so."""
    progress = state.get("progress") or {}
    source.update(path=str(path), weights="raw", step=progress.get("step"), epoch=progress.get("epoch"))
    return model_from_state(state), recorded_config(state)


def model_dir_info(model_dir: Path, cfg: Config | None) -> dict[str, Any]:
    """{path, weights, step, epoch} of a model folder: from its ``weights.json`` when the run wrote one, else
    the run's config says whether it kept an EMA (whose weights final/ and best/ then hold)."""
    import json

    info: dict[str, Any] = {"path": str(model_dir), "weights": "unknown", "step": None, "epoch": None}
    recorded = model_dir / WEIGHTS_INFO
    if recorded.is_file():
        try:
            found = json.loads(recorded.read_text())
        except (OSError, ValueError, RecursionError):
            found = None
        if isinstance(found, dict):  # anything else (a hand-edited or foreign file) is ignored
            info.update({k: v for k, v in found.items() if k in info and isinstance(v, str | int | type(None))})
            return info
    if cfg is not None:
        info["weights"] = "ema" if cfg.train.ema_decay else "raw"
    return info


def model_from_state(state: dict[str, Any]) -> torch.nn.Module:
    """The model of a training checkpoint (its description rebuilt, its weights loaded)."""
    from ..models.hub import build_from_description, load_weights

    source = state.get("path", "checkpoint")
    model = build_from_description(state["model_description"], source)
    load_weights(model, state["model"], source, "its model_description")
    return model


def config_for_model(
    model: torch.nn.Module,
    cfg: Config | None,
    source: str | os.PathLike,
    data: str | None = None,
    root: str | None = None,
    task: str = "classify",
    resize: bool = False,
) -> Config:
    """The config to read images for ``model`` with (a copy; ``cfg`` is not changed).

    ``cfg`` is the model's run config (None for a bare model directory, which then needs ``data``);
    ``data`` switches to another dataset (a fresh data section; its eval split is the dataset's last
    split when it has no "test", e.g. ImageNet's "val"), ``root`` moves the dataset's folder, and
    ``resize`` lets a dataset of another image size be resized. ``data.img_size`` is the model's.
    """
    if cfg is None and data is None:
        raise ConfigError(f"{source} carries no training config: pass --data NAME (and --root) to say which images to use")
    cfg = copy.deepcopy(cfg) if cfg is not None else Config(task=task)
    if data is not None:
        from ..data import get_dataset_spec

        cfg.data = DataConfig(name=data, root=root, resize=resize)
        splits = get_dataset_spec(data).splits
        if splits and cfg.data.eval_split not in splits:
            cfg.data.eval_split = splits[-1]
    elif root is not None:
        cfg.data.root = root
    cfg.data.img_size = list(model.img_size)
    return cfg
