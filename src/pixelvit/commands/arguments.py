"""Argument helpers shared by the command modules: integer lists, the data options, help strings."""

from __future__ import annotations

import argparse

from ..config import ConfigError

CHECKPOINT_HELP = "a run directory, a model directory (config.json + model.safetensors) or a step_*.pt file"


def parse_ints(text: str, what: str) -> list[int]:
    """``"1,2,4"`` -> [1, 2, 4]; a ConfigError naming the option otherwise."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} takes comma-separated integers like 1,2,4, got {text!r}") from None


def add_data_args(p: argparse.ArgumentParser, device_default: str = "auto") -> None:
    """--data, --root, --split and --device: which images to show a trained model, and where to run it."""
    p.add_argument("--data", help="dataset name (default: the one the model was trained on)")
    p.add_argument("--root", help="dataset root folder")
    p.add_argument("--split", help="split to read (default: the config's eval split)")
    p.add_argument("--device", default=device_default, help="auto, cpu or cuda[:N]")
