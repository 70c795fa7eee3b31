"""What the training studies share: the base config, one training run per variant, its accuracy."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..config import Config, load_config

log = logging.getLogger(__name__)


def base_config(config: str, overrides: list[str] | tuple[str, ...] = ()) -> tuple[str | None, list[str], Config]:
    """(path or None, overrides to pass on, the resolved config) for a study's ``CONFIG`` argument: a YAML file or
    a recipe's name (:data:`pixelvit.tasks.recipes.RECIPES`; ``digits`` runs on a CPU in minutes)."""
    from ..tasks.recipes import RECIPES

    if config in RECIPES:
        path, overrides = None, [*RECIPES[config], *overrides]
    else:
        path, overrides = config, list(overrides)
    return path, overrides, load_config(path, overrides)


def train_variant(path: str | None, overrides: list[str], run_dir: Path, variant: list[str]) -> dict[str, Any]:
    """Train (or resume) one variant in ``run_dir``; returns its summary. A run that already finished
    with the same config is reused, so a study can be run again to add rows or redraw its plot."""
    import json

    import yaml

    from ..tasks.training import train_from_config

    overrides = [*overrides, *variant, f"run_dir={run_dir}"]
    summary_path, config_path = run_dir / "summary.json", run_dir / "config.yaml"
    if summary_path.is_file() and config_path.is_file():
        summary = json.loads(summary_path.read_text())
        same = yaml.safe_load(config_path.read_text()) == load_config(path, overrides).to_dict()
        if same and summary.get("status") == "finished" and summary.get("final"):
            log.info(f"{run_dir}: finished earlier, reusing its summary")
            return summary
    return train_from_config(path, overrides)


def final_accuracy(summary: dict[str, Any]) -> float | None:
    """Acc@1 of the final model (the EMA weights' when the run kept an EMA: that is what ``final/`` holds)."""
    final = summary.get("final") or {}
    return final.get("ema_acc1", final.get("acc1"))


def evaluation_set(cfg: Config) -> dict[str, Any]:
    """What a study's accuracies are measured on: dataset, input size, number of test images and classes
    (for the plots' chance level and binomial intervals)."""
    from ..data.splits import load_split

    _, arrays = load_split(cfg.data, cfg.data.eval_split, cfg.data.limit_eval)
    return {
        "data": cfg.data.name,
        "img_size": list(cfg.data.img_size),
        "split": cfg.data.eval_split,
        "eval_images": len(arrays.targets),
        "num_classes": len(arrays.classes) or None,
    }


def model_text(cfg: Config) -> str:
    """The model a study trains, as built (not its preset's name): ``vit (width 64, depth 4, 4 heads)``."""
    from ..models.registry import decode_variant

    try:
        shape = dict(decode_variant(cfg.model.name)[1])
    except ValueError:
        return cfg.model.name
    shape.update({k: getattr(cfg.model, k) for k in ("embed_dim", "depth", "num_heads") if getattr(cfg.model, k) is not None})
    family = cfg.model.name.split("/")[0].rsplit("_", 1)[0]
    return f"{family} (width {shape.get('embed_dim')}, depth {shape.get('depth')}, {shape.get('num_heads')} heads)"


def paper_comparable(cfg: Config, dataset: str, img_size: list[int] | None = None) -> bool:
    """Whether this run's accuracies can share an axis with the paper's (same dataset, and input size when given)."""
    return cfg.data.name == dataset and (img_size is None or list(cfg.data.img_size) == list(img_size))


def paper_note(comparable: bool, paper: str, what: str) -> str:
    """The line under a study's plot saying whether the paper's numbers are drawn, and why not."""
    if comparable:
        return f"drawn hollow: paper, {paper}"
    return f"paper ({paper}) not drawn: its numbers are not on the scale of this run ({what})"


def mean_std(values: list[float], digits: int = 1) -> str:
    """``"mean ± std"`` (sample standard deviation; 0 for one value) for a table cell."""
    import statistics

    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"
