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
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


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
        return meta.get("architecture", ""), upgrade_config(meta.get("architecture", ""), meta.get("config", {}))
    model, data = config.get("model") or {}, config.get("data") or {}
    shape: dict[str, Any] = {}
    with contextlib.suppress(KeyError, ValueError):  # a preset name decodes to its patch size and shape
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
    model_dir = run_model_dir(run_dir)
    architecture, shape = _model_shape(config, model_dir)
    size = shape.get("img_size")
    img_size = (size, size) if isinstance(size, int) else tuple(size) if size else None
    patch = shape.get("patch_size")
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
        "task": config.get("task", "classify"),
        "preset": (config.get("model") or {}).get("name", ""),
        "architecture": architecture,
        "model_config": shape,
        "model_dir": model_dir,
        "patch_size": patch,
        "img_size": img_size,
        "in_chans": shape.get("in_chans"),
        "tokens": (img_size[0] // patch) * (img_size[1] // patch) if img_size and patch else None,
        "dataset": data.get("name", ""),
        "status": summary.get("status", "no summary"),
        "step": summary.get("step"),
        "wall_time_s": summary.get("wall_time_s"),
        "final": reported,
        "weights": weights,
        "paper": {} if mismatch else paper.get("metrics") or summary.get("paper") or {},
        "paper_mismatch": mismatch,
        "paper_table": paper.get("table", ""),
        "recipe_source": paper.get("recipe_source", ""),
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
