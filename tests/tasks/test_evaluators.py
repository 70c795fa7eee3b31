"""Evaluators of a run's ``evals:`` list: run by the trainer on schedule, logged as prefix/metric,
and equal to the same measure taken by hand after training."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pixelvit.commands import main
from pixelvit.config import ConfigError, load_config
from pixelvit.data.splits import load_split
from pixelvit.demos.dit_digits import digits_npz
from pixelvit.engine.loading import load_model_and_config
from pixelvit.metrics.attention import attention_statistics
from pixelvit.tasks.evaluators import build_evaluators
from pixelvit.tasks.training import train_from_config

FAST = ["train.precision=fp32", "train.progress=false", "data.num_workers=0", "train.batch_size=16"]
TINY_VIT = ["data.name=digits", "data.img_size=[8,8]", "model.name=vit_t/2", "model.embed_dim=16", "model.depth=2",
            "model.num_heads=2", "data.limit_train=64", "data.limit_eval=32", *FAST]  # fmt: skip
TINY_DIT = ["task=diffusion", "model.name=dit_s/1", "model.embed_dim=16", "model.depth=1", "model.num_heads=2",
            "data.name=digits", "data.img_size=[8,8]", "data.limit_train=32", "data.limit_eval=16",
            "diffusion.sampling.cfg_scale=1.0", "train.ema_decay=0.9", *FAST]  # fmt: skip


def eval_records(run_dir):
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r["tag"] == "eval"]


def test_attention_distance_runs_on_schedule_and_equals_the_measure(tmp_path):
    evals = "evals=[{type: attention_distance, every: 2, num_images: 8, prefix: attn}]"
    run_dir = tmp_path / "vit"
    summary = train_from_config(None, [*TINY_VIT, "train.epochs=3", "train.eval_every=3", evals, f"run_dir={run_dir}"])
    logged = [r for r in eval_records(run_dir) if "attn/distance" in r]
    assert [r["epoch"] for r in logged] == [2, 3]  # every 2 epochs, and after the last
    assert {"attn/distance_l0", "attn/offset_l1"} <= set(logged[-1]) and "attn/distance" in summary["final"]

    model, cfg = load_model_and_config(run_dir)
    _, arrays = load_split(cfg.data, cfg.data.eval_split, cfg.data.limit_eval)
    chosen = sorted(np.random.default_rng(0).choice(len(arrays.images), 8, replace=False).tolist())
    stats = attention_statistics(model, torch.from_numpy(np.stack([arrays.images[i] for i in chosen])))
    assert logged[-1]["attn/distance"] == pytest.approx(float(stats["distance"].mean()), rel=1e-6)
    assert logged[-1]["attn/offset_l1"] == pytest.approx(float(stats["offset"][1].mean()), rel=1e-6)


@pytest.mark.parametrize(
    ("objective", "steps", "sampler"), [("ddpm_eps", "ddim5", "ddim"), ("flow_v", "3", "heun")], ids=["ddpm", "flow"]
)
def test_fid_during_training_equals_sample_then_fid(objective, steps, sampler, tmp_path, capsys):
    """A pixel-space DiT with an fid evaluator logs FID while it trains; the final value equals
    what ``pixelvit sample`` + ``pixelvit fid`` give for the saved model with the same settings
    (the evaluator's sampling spec sets only the steps; the sampler follows from them or the objective)."""
    features = tmp_path / "features"
    train_from_config(None, [*TINY_VIT, "train.epochs=1", f"run_dir={features}"])
    cache = tmp_path / "fid-cache"
    fid = (f"{{type: fid, every: 1, num_samples: 12, sampling: {{steps: '{steps}'}}, features: {features / 'final'}, seed: 3, "
           f"cache_dir: {cache}}}")  # fmt: skip
    run_dir = tmp_path / "dit"
    dit = [*TINY_DIT, f"diffusion.objective={objective}", "train.epochs=2"]
    summary = train_from_config(None, [*dit, f"evals=[{fid}]", f"run_dir={run_dir}"])
    logged = [r for r in eval_records(run_dir) if "fid/fid" in r]
    assert [r["epoch"] for r in logged] == [1, 2]
    assert {"fid/fid", "fid/precision", "fid/recall", "fid/sfid"} <= set(logged[-1])
    assert logged[-1]["fid/fid"] > 0 and summary["final"]["fid/fid"] == logged[-1]["fid/fid"]
    assert [p.name.split("-")[:3] for p in cache.iterdir()] == [["digits", "test", "8x8"]]  # the split's statistics, once
    plain = train_from_config(None, [*dit, f"run_dir={tmp_path / 'plain'}"])
    assert plain["final"]["loss"] == summary["final"]["loss"]  # evaluating draws no training randomness
    trained, untouched = (load_file(str(d / "final" / "model.safetensors")) for d in (run_dir, tmp_path / "plain"))
    assert all(torch.equal(trained[k], untouched[k]) for k in trained)

    ref = digits_npz("test", tmp_path / "ref.npz")
    with np.load(ref) as z:  # the evaluator's reference: the eval split as the run reads it (limit_eval=16)
        np.savez(tmp_path / "ref16.npz", arr_0=z["arr_0"][:16], arr_1=z["arr_1"][:16])
    classes = ",".join(str(c) for c in range(10))
    args = ["sample", str(run_dir), "--num", "12", "--steps", steps, "--sampler", sampler, "--seed", "3", "--classes", classes]
    assert main([*args, "--cfg-scale", "1.0", "--device", "cpu", "--out", str(tmp_path / "samples")]) == 0
    out = tmp_path / "fid.json"
    samples, reference = str(tmp_path / "samples" / "samples.npz"), str(tmp_path / "ref16.npz")
    options = ["--features", str(features / "final"), "--cache-dir", str(tmp_path / "cache"), "--json", str(out)]
    assert main(["fid", samples, reference, *options]) == 0
    by_hand = json.loads(out.read_text())
    assert logged[-1]["fid/fid"] == pytest.approx(by_hand["fid"], rel=1e-5)
    assert logged[-1]["fid/precision"] == pytest.approx(by_hand["precision"])


def test_fid_evaluator_refuses_what_it_cannot_run_before_training(tmp_path):
    cfg = load_config(None, [*TINY_DIT, f"evals=[{{type: fid, features: {tmp_path / 'nothing'}}}]"])
    with pytest.raises(ConfigError, match="is not a model directory"):
        build_evaluators(cfg)
    cfg = load_config(None, [*TINY_DIT, "evals=[{type: fid}]"])
    with pytest.raises(ConfigError, match="exactly one feature network"):
        build_evaluators(cfg)
