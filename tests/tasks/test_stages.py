"""Changing patch size in training: model.init_from across patch sizes, and train.stages as one resumable run."""

import json

import pytest
import torch
from safetensors.torch import load_file

from pixelvit.config import ConfigError, load_config
from pixelvit.models.resize import resize_patch_projection, resize_pos_embed
from pixelvit.tasks.training import evaluate_checkpoint, train_from_config

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["data.name=digits", "model.name=vit_t/1", "model.embed_dim=16", "model.depth=1", "model.num_heads=2",
        "model.pos_embed_std=1.0", "train.precision=fp32", "train.progress=false", "train.batch_size=64",
        "data.limit_train=256", "optim.warmup_epochs=1"]  # fmt: skip
STAGES = "train.stages=[{patch_size: 2, epochs: 2}, {patch_size: 1, epochs: 2}]"  # 4 steps an epoch: 8 + 8 steps


def run(run_dir, *extra):
    return train_from_config(None, [*TINY, f"run_dir={run_dir}", *extra])


def test_stages_parse_as_typed_entries_and_are_validated():
    cfg = load_config(None, [STAGES])
    assert [(s.patch_size, s.epochs) for s in cfg.train.stages] == [(2, 2), (1, 2)]
    assert cfg.to_dict()["train"]["stages"][1] == {"patch_size": 1, "epochs": 2, "lr": None, "warmup_epochs": None}
    assert load_config(None).train.stages == []
    with pytest.raises(ConfigError, match=r"unknown key train.stages\[0\].patch\. Did you mean train.stages\[0\].patch_size"):
        load_config(None, ["train.stages=[{patch: 2}]"])
    with pytest.raises(ConfigError, match=r"train.stages\[1\]: patch_size and epochs must be >= 1, got 1 and 0"):
        load_config(None, ["train.stages=[{patch_size: 2, epochs: 1}, {patch_size: 1, epochs: 0}]"])
    with pytest.raises(ConfigError, match=r"train.stages\[0\].lr=1e-07 must be > 0 and not below optim.min_lr=1e-06"):
        load_config(None, ["train.stages=[{patch_size: 2, epochs: 1, lr: 1e-7}]"])
    with pytest.raises(ConfigError, match=r"train.stages\[1\].patch_size=3 does not divide data.img_size=\[8, 8\]"):
        load_config(None, ["train.stages=[{patch_size: 2, epochs: 1}, {patch_size: 3, epochs: 1}]"])
    with pytest.raises(ConfigError, match=r"train.stages works with task classify, not mae"):
        load_config(None, ["task=mae", STAGES])


def test_a_p2_run_starts_a_p1_run_through_init_from(tmp_path):
    run(tmp_path / "p2", "model.patch_size=2", "train.epochs=1")
    source = load_file(tmp_path / "p2" / "final" / "model.safetensors")
    start = run(tmp_path / "p1_start", "model.patch_size=1", "train.max_steps=1", f"model.init_from={tmp_path / 'p2'}",
                "optim.lr=1e-12", "optim.min_lr=0")  # fmt: skip
    assert start["step"] == 1  # one step of a negligible learning rate: the checkpoint holds the starting weights
    started = torch.load(next((tmp_path / "p1_start" / "checkpoints").glob("step_*.pt")), weights_only=True)["model"]
    assert started["patch_embed.proj.weight"].shape == (16, 1) and started["pos_embed.weight"].shape == (1, 64, 16)
    proj = resize_patch_projection(source["patch_embed.proj.weight"], 1, 1)
    torch.testing.assert_close(started["patch_embed.proj.weight"], proj)
    torch.testing.assert_close(started["pos_embed.weight"], resize_pos_embed(source["pos_embed.weight"], (4, 4), (8, 8)))
    torch.testing.assert_close(started["blocks.0.attn.qkv.weight"], source["blocks.0.attn.qkv.weight"])
    summary = run(tmp_path / "p1", "model.patch_size=1", "train.epochs=1", f"model.init_from={tmp_path / 'p2'}")
    assert summary["status"] == "finished" and summary["step"] == 4


def test_a_staged_run_killed_in_either_stage_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, capsys):
    straight = run(tmp_path / "straight", STAGES)
    assert straight["status"] == "finished" and straight["step"] == 16
    # the staged run reports its last stage's saved weights, which its final/ holds and eval measures again
    assert straight["weights"] == "raw" and straight["reported"] == straight["stages"][-1]["reported"]
    again = evaluate_checkpoint(tmp_path / "straight", device="cpu")
    assert again["acc1"] == pytest.approx(straight["reported"]["acc1"])
    assert [(s["patch_size"], s["status"], s["step"]) for s in straight["stages"]] == [(2, "finished", 8), (1, "finished", 8)]
    out = tmp_path / "staged"
    first = run(out, STAGES, "train.max_steps=5")  # stops mid stage 0
    assert first["status"] == "reached train.max_steps=5 in stage 0" and first["step"] == 5
    assert not (out / "stage1_p1").exists() and not (out / "final").exists()
    second = run(out, STAGES, "train.max_steps=11")  # resumes stage 0, finishes it, stops mid stage 1
    assert second["status"] == "reached train.max_steps=11 in stage 1" and second["step"] == 11
    assert [s["step"] for s in second["stages"]] == [8, 3]
    printed = capsys.readouterr().out
    assert "init_from" in printed and "fresh: head" in printed  # init_from leaves the head fresh, then the stage copies it
    assert (
        printed.index("fresh: head") < printed.index("then copied head from") and "(the previous stage's classifier)" in printed
    )
    last = run(out, STAGES)  # stage 0 is skipped, stage 1 resumes at its step 3
    assert last["status"] == "finished" and last["step"] == 16
    assert "stage 0 (/2): finished earlier" in capsys.readouterr().out
    a, b = load_file(tmp_path / "straight" / "final" / "model.safetensors"), load_file(out / "final" / "model.safetensors")
    assert b["patch_embed.proj.weight"].shape == (16, 1)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert b.keys() == load_file(out / "stage1_p1" / "final" / "model.safetensors").keys()
    recorded = json.loads((out / "summary.json").read_text())
    assert recorded["final"] == last["final"] and [s["epochs"] for s in recorded["stages"]] == [2, 2]
    assert evaluate_checkpoint(out, device="cpu")["acc1"] == pytest.approx(last["final"]["acc1"])
    again = run(out, STAGES)  # everything finished: nothing trains again
    assert again["final"] == last["final"] and again["wall_time_s"] == last["wall_time_s"]
    with pytest.raises(ConfigError, match=r"train.stages"):
        run(out, "train.stages=[{patch_size: 2, epochs: 3}, {patch_size: 1, epochs: 2}]")


def test_a_later_stage_starts_from_the_whole_previous_model_with_its_own_lr(tmp_path):
    out = tmp_path / "staged"
    stages = "train.stages=[{patch_size: 2, epochs: 1}, {patch_size: 1, epochs: 1, lr: 1e-12, warmup_epochs: 0}]"
    summary = run(out, stages, "model.global_pool=avg", "model.class_token=false", "train.max_steps=5", "optim.min_lr=0")
    assert summary["status"] == "reached train.max_steps=5 in stage 1"  # stage 0: 4 steps; stage 1: 1 step of lr 1e-12
    source = load_file(out / "stage0_p2" / "final" / "model.safetensors")
    started = torch.load(next((out / "stage1_p1" / "checkpoints").glob("step_*.pt")), weights_only=True)["model"]
    for name in ("head.weight", "head.bias", "fc_norm.weight", "blocks.0.mlp.fc1.weight"):
        torch.testing.assert_close(started[name], source[name], msg=name)
    assert load_config(out / "stage1_p1" / "config.yaml").optim.lr == 1e-12
