"""Every configs/dit/*.yaml trains and evaluates for a few steps through the CLI on fabricated data (the
paper rows on a fabricated latent cache in the real format), and the evaluation loss is deterministic.
Sampling a trained run: tests/generation/test_sample.py."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pixelvit.commands import main
from pixelvit.config import ConfigError, load_config
from pixelvit.data.latents import write_latents
from pixelvit.tasks import build_task

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "dit").glob("*.yaml"))
TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.batch_size=4", "train.epochs=1",
        "train.max_steps=2", "train.precision=fp32", "train.progress=false", "data.num_workers=0", "data.limit_train=8",
        "data.limit_eval=8"]  # fmt: skip
PAPER_METRICS = {"fid", "sfid", "inception_score", "precision", "recall"}


def fabricate_latents(folder: Path, n: int = 8) -> list[str]:
    """Train and val caches of 4x8x8 latents (train with flip variants), as prepare-latents writes them."""
    rng = np.random.default_rng(0)
    meta = {"data": "imagenet", "scale": 0.18215, "num_classes": 10}
    train = write_latents(folder / "train.npy", rng.normal(size=(n, 2, 4, 8, 8)), rng.integers(0, 10, n), {**meta, "flip": True})
    val = write_latents(folder / "val.npy", rng.normal(size=(n, 1, 4, 8, 8)), rng.integers(0, 10, n), {**meta, "flip": False})
    return [f"diffusion.latent_file={train}", f"diffusion.eval_latent_file={val}"]


def test_every_paper_dit_row_has_a_config():
    names = {p.stem for p in CONFIGS}
    assert {"dit_l2_400ep", "dit_l1_400ep", "dit_l2_1400ep", "dit_l1_1400ep", "digits_dit1"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_and_evaluates_on_fabricated_data(path, tmp_path, capsys):
    cfg = load_config(path)
    assert cfg.task == "diffusion" and cfg.paper.recipe_source and "# Run:" in path.read_text()
    data = fabricate_latents(tmp_path) if cfg.diffusion.space == "latent" else []
    if cfg.diffusion.space == "latent":
        assert set(cfg.paper.metrics) == PAPER_METRICS and cfg.model.name in ("dit_l/1", "dit_l/2")
        assert cfg.train.ema_decay == 0.9999 and cfg.optim.lr == cfg.optim.min_lr == 1e-4 and cfg.optim.weight_decay == 0
    run_dir = tmp_path / "run"
    assert main(["train", str(path), *TINY, *data, f"run_dir={run_dir}"]) == 0
    summary = yaml.safe_load((run_dir / "summary.json").read_text())
    assert summary["status"].startswith("reached") and summary["step"] == 2
    assert main(["eval", str(run_dir), "--device", "cpu", "--batch-size", "4"]) == 0
    assert "loss:" in capsys.readouterr().out


def test_evaluation_loss_is_deterministic():
    cfg = load_config(CONFIGS[0].parent / "digits_dit1.yaml", TINY)
    task = build_task(cfg)
    batches = [task.evaluation.dataset[i] for i in range(6)]
    collate = [torch.utils.data.default_collate(batches[:3]), torch.utils.data.default_collate(batches[3:])]
    first = task.evaluation.sums(task.model, collate, torch.device("cpu"))
    again = task.evaluation.sums(task.model, collate[::-1], torch.device("cpu"))
    torch.testing.assert_close(first, again)
    assert first[3] == 6 and task.evaluation.summarize(first)["loss"] > 0


def test_diffusion_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="trains dit_"):
        load_config(None, ["task=diffusion", "model.name=vit_t/1"])
    with pytest.raises(ConfigError, match="latent_file"):
        load_config(None, ["task=diffusion", "model.name=dit_s/1", "diffusion.space=latent"])
    with pytest.raises(ConfigError, match="sample_steps"):
        load_config(None, ["task=diffusion", "model.name=dit_s/1", "diffusion.sample_steps=ddim999"])
    with pytest.raises(ConfigError, match="class_dropout"):
        load_config(None, ["task=diffusion", "model.name=dit_s/1", "diffusion.class_dropout=0", "diffusion.cfg_scale=2"])
