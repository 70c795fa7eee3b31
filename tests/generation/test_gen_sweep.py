"""`pixelvit gen-sweep` end to end on the bundled digits at a tiny budget: every (objective, patch, seed) cell
trains, samples and is scored; the table, figure, rows and grids are written; the FLOPs budget and the
FLOPs count are checked by hand."""

import json
from pathlib import Path

import pytest

from pixelvit.commands import main
from pixelvit.config import load_config
from pixelvit.generation.gen_sweep import GenSweepOptions, cell_epochs, dit_flops, mean_interval
from pixelvit.tasks.training import train_from_config

DIGITS_DIT = str(Path(__file__).parents[2] / "configs" / "dit" / "digits_dit1.yaml")
TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.epochs=1", "train.batch_size=16",
        "data.limit_train=32", "data.limit_eval=20", "train.precision=fp32", "train.progress=false",
        "data.num_workers=0", "diffusion.sampling.sampler=ddim", "diffusion.sampling.steps=ddim2"]  # fmt: skip
TINY_VIT = ["data.name=digits", "data.img_size=[8,8]", "model.name=vit_t/2", "model.embed_dim=16", "model.depth=1",
            "model.num_heads=2", "data.limit_train=64", "data.limit_eval=16", "train.epochs=1", "train.precision=fp32",
            "train.progress=false", "data.num_workers=0", "train.batch_size=16"]  # fmt: skip


def test_flops_by_hand_and_the_equal_flops_budget():
    # 8x8 input, patch 2: 16 tokens, D = 16, one block, MLP ratio 4:
    # 2·16·(4 + 8)·16² + 4·16²·16 = 98,304 + 16,384 = 114,688
    assert dit_flops((8, 8), 2, 16, 1, 4.0) == 114_688
    assert dit_flops((8, 8), 4, 16, 1, 4.0) == 2 * 4 * 12 * 256 + 4 * 16 * 16  # 4 tokens: 24,576 + 1,024
    cfg = load_config(DIGITS_DIT, [*TINY, "train.epochs=2"])
    assert cell_epochs(cfg, GenSweepOptions(patch_sizes=(2, 4), budget="steps")) == {2: 2, 4: 2}
    assert cell_epochs(cfg, GenSweepOptions(patch_sizes=(2, 4), budget="flops")) == {2: 2, 4: round(2 * 114_688 / 25_600)}
    with pytest.raises(ValueError, match="not one of the swept patch sizes"):
        cell_epochs(cfg, GenSweepOptions(patch_sizes=(2, 4), budget="flops", flops_patch=1))


def test_mean_interval_uses_students_t():
    assert mean_interval([3.0]) == (3.0, None)
    mean, half = mean_interval([1.0, 3.0])  # sd √2, n 2: 12.706·√2/√2
    assert mean == 2.0 and half == pytest.approx(12.706)


def test_gen_sweep_runs_end_to_end_on_digits(tmp_path, capsys):
    features = tmp_path / "features"
    train_from_config(None, [*TINY_VIT, f"run_dir={features}"])
    out = tmp_path / "sweep"
    args = ["gen-sweep", DIGITS_DIT, *TINY, "--patch-sizes", "2,4", "--seeds", "0,1", "--num-samples", "10",
            "--flow-steps", "2", "--features", str(features / "final"), "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "flow_x /4 seed 1: FID" in printed and "wrote" in printed
    data = json.loads((out / "gen_sweep.json").read_text())
    rows = data["rows"]
    assert len(rows) == 3 * 2 * 2 and {r["objective"] for r in rows} == {"ddpm_eps", "flow_v", "flow_x"}
    assert all(r["fid"] > 0 and 0 <= r["precision"] <= 1 and r["num_samples"] == 10 for r in rows)
    assert {(r["objective"], r["sampler"], r["sample_steps"]) for r in rows if r["patch_size"] == 2} == {
        ("ddpm_eps", "ddim", "ddim2"), ("flow_v", "heun", "2"), ("flow_x", "heun", "2")}  # fmt: skip
    assert all(Path(r["grid"]).is_file() for r in rows)
    table = (out / "gen_sweep.md").read_text()
    assert "| flow_v | /2 |" in table and " ± " in table  # two seeds: an interval
    assert (out / "gen_sweep.png").stat().st_size > 0
    # the cells' runs carry their objective's head: C outputs for flow, 2C for ddpm_eps
    ddpm, flow = (load_config(str(out / o / "p2" / "s0" / "config.yaml")) for o in ("ddpm_eps", "flow_x"))
    assert ddpm.diffusion.objective == "ddpm_eps" and flow.diffusion.objective == "flow_x"


def test_gen_sweep_refuses_bad_options_before_training(tmp_path, capsys):
    base = ["gen-sweep", DIGITS_DIT, "--features", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*base, "--patch-sizes", "3"]) == 2
    assert "do not divide the 8x8 input" in capsys.readouterr().err
    assert main([*base, "--patch-sizes", "2", "--objectives", "flow_eps"]) == 2
    assert "unknown objectives ['flow_eps']" in capsys.readouterr().err
