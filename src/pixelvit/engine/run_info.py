"""What a run directory says about itself, for reports and model cards: the model as trained (patch
size, tokens, input size, from the run's own files, not the preset's name), the data, the final
metrics, the paper's numbers for the row, and where its model files are."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import first_line
from ..models.hub import CONFIG_NAME, WEIGHTS_NAME, upgrade_config
from ..models.registry import decode_variant

MODEL_SUBDIRS = ("final", "best")
NOT_METRICS = {"epoch", "step", "tag", "lr", "images_per_s"}


WEIGHTS_TEXT = {"ema": "EMA weights", "raw": "raw weights"}


def saved_weights_metrics(metrics: dict[str, float], weights: str) -> dict[str, float]:
    """The metrics of the weights a run saves, on the evaluation split, under their plain names: with
    ``weights="ema"`` the ``ema_*`` values (``ema_acc1`` -> ``acc1``), else the model's; ``val_*`` left out.
    Extra evaluators' ``prefix/metric`` values (run on the saved weights) are kept."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if key.startswith("val_"):
            continue
        if "/" in key:
            out[key] = value
        elif weights == "ema" and key.startswith("ema_"):
            out[key.removeprefix("ema_")] = value
        elif weights != "ema" and not key.startswith("ema_"):
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping file ({} when absent); a ``ValueError`` naming the file when it is not one."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"{path} is not valid YAML ({first_line(e)})") from None
    return _mapping(data or {}, path)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file ({} when absent); a ``ValueError`` naming the file when it is not one."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"{path} is not valid JSON ({first_line(e)})") from None
    return _mapping(data, path, what="a JSON object")


def _mapping(value: Any, path: Path, key: str | None = None, what: str = "a mapping") -> dict[str, Any]:
    """``value`` when it is a dict ({} for None under a key), else a ``ValueError`` naming the file and key."""
    if value is None and key is not None:
        return {}
    if not isinstance(value, dict):
        where = f"{path}: {key} must be a mapping" if key else f"{path} must hold {what}"
        raise ValueError(f"{where}, got {type(value).__name__} {value!r:.60}")
    return value


def _numbers(metrics: dict[str, Any]) -> dict[str, Any]:
    """A metrics mapping with string keys; values as recorded (a non-number shows as "—" and is not plotted)."""
    return {str(k): v for k, v in metrics.items()}


def _size(value: Any) -> tuple[int, int] | None:
    """An image size as (H, W) of positive integers, or None when ``value`` is none (or malformed)."""
    sides = [value, value] if isinstance(value, int) else value
    if isinstance(sides, list | tuple) and len(sides) == 2 and all(type(v) is int and v > 0 for v in sides):
        return int(sides[0]), int(sides[1])
    return None


def run_model_dir(run_dir: str | os.PathLike) -> Path | None:
    """The run's model folder (``final/``, else ``best/``), or None when it wrote neither."""
    for sub in MODEL_SUBDIRS:
        candidate = Path(run_dir) / sub
        if (candidate / CONFIG_NAME).is_file() and (candidate / WEIGHTS_NAME).is_file():
            return candidate
    return None


def _model_shape(config: dict[str, Any], model_dir: Path | None) -> tuple[str, dict[str, Any]]:
    """(architecture, constructor arguments) from the saved model, else from config.yaml's model/data sections."""
    if model_dir is not None:
        meta = _read_json(model_dir / CONFIG_NAME)
        architecture = meta.get("architecture", "")
        return str(architecture), upgrade_config(architecture, _mapping(meta.get("config"), model_dir / CONFIG_NAME, "config"))
    model, data = config.get("model") or {}, config.get("data") or {}
    shape: dict[str, Any] = {}
    with contextlib.suppress(
        KeyError, ValueError, TypeError, AttributeError
    ):  # a preset name decodes to its patch size and shape
        shape.update(decode_variant(model["name"])[1])
    shape.update({k: model[k] for k in ("patch_size", "embed_dim", "depth", "num_heads") if model.get(k) is not None})
    latent = config.get("task") == "diffusion" and (config.get("diffusion") or {}).get("space", "latent") == "latent"
    if data.get("img_size") and not latent:  # a latent DiT's input size is the latents', known from its model files only
        shape["img_size"] = data["img_size"]
    return "", shape


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """One run's facts: name, path, task, preset, patch_size, img_size (H, W), tokens, dataset, status,
    step, final metrics (of the saved weights, ``weights``: "ema" or "raw"), the paper's metrics (empty when the
    run changed its row's recipe: ``paper_mismatch``), the paper's table and recipe source, config and summary.

    A ``FileNotFoundError`` when ``run_dir`` is not a run directory (neither summary.json nor config.yaml).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a directory; pass run directories (holding summary.json / config.yaml)")
    config, summary = _read_yaml(run_dir / "config.yaml"), _read_json(run_dir / "summary.json")
    if not config and not summary:
        raise FileNotFoundError(f"{run_dir} holds neither summary.json nor config.yaml: is it a pixelvit run directory?")
    for section in ("model", "data", "paper", "train", "optim"):
        config[section] = _mapping(config.get(section), run_dir / "config.yaml", section)
    for key in ("final", "paper"):
        summary[key] = _mapping(summary.get(key), run_dir / "summary.json", key)
    model_dir = run_model_dir(run_dir)
    architecture, shape = _model_shape(config, model_dir)
    img_size = _size(shape.get("img_size"))
    patch = shape.get("patch_size") if type(shape.get("patch_size")) is int and shape["patch_size"] > 0 else None
    paper = config.get("paper") or {}
    data = config.get("data") or {}
    # the saved weights' numbers: summary.json's "reported", or for a run of an earlier version, its EMA's when
    # it kept one (final/ and best/ held the EMA weights then too)
    weights = summary.get("weights") or ("ema" if (config.get("train") or {}).get("ema_decay") else "raw")
    reported = summary.get("reported") or saved_weights_metrics(summary.get("final") or {}, weights)
    mismatch = paper.get("mismatch") or []
    return {
        "name": run_dir.name,
        "path": run_dir,
        "task": str(config.get("task", "classify")),
        "preset": str((config.get("model") or {}).get("name", "")),
        "architecture": architecture,
        "model_config": shape,
        "model_dir": model_dir,
        "patch_size": patch,
        "img_size": img_size,
        "in_chans": shape.get("in_chans"),
        "tokens": (img_size[0] // patch) * (img_size[1] // patch) if img_size and patch else None,
        "dataset": str(data.get("name", "")),
        "status": str(summary.get("status", "no summary")),
        "step": summary.get("step") if type(summary.get("step")) is int else None,
        "wall_time_s": summary.get("wall_time_s"),
        "final": _numbers(_mapping(reported, run_dir / "summary.json", "reported")),
        "weights": str(weights),
        "paper": {}
        if mismatch
        else _numbers(_mapping(paper.get("metrics"), run_dir / "config.yaml", "paper.metrics") or summary["paper"]),
        "paper_mismatch": mismatch,
        "paper_table": str(paper.get("table", "")),
        "recipe_source": str(paper.get("recipe_source", "")),
        "config": config,
        "summary": summary,
    }


def size_text(img_size: tuple[int, int] | None) -> str:
    """(32, 32) -> "32×32"; "?" when unknown."""
    return f"{img_size[0]}×{img_size[1]}" if img_size else "?"


def run_label(run: dict[str, Any]) -> str:
    """A run as a reader names it: ``/1 · 64 tokens · digits 8×8``."""
    patch = f"/{run['patch_size']}" if run["patch_size"] else "/?"
    tokens = f"{run['tokens']:,} tokens" if run["tokens"] else "? tokens"
    return f"{patch} · {tokens} · {run['dataset'] or '?'} {size_text(run['img_size'])}"


def metric_columns(runs: list[dict[str, Any]]) -> list[str]:
    """Paper metrics first (in their order), then the other final metrics."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run["paper"] if k not in keys]
    for run in runs:
        keys += sorted(k for k in run["final"] if k not in keys and k not in NOT_METRICS)
    return keys
