"""The training loop end to end on the bundled digits: learning, exact resume, stops, faults."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pixelvit.config import ConfigError, load_config
from pixelvit.engine.checkpoint import list_checkpoints, load_checkpoint
from pixelvit.engine.trainer import NonFiniteLossError, Trainer
from pixelvit.tasks import build_task
from pixelvit.tasks.training import evaluate_checkpoint, train_from_config

TINY = [
    "data.name=digits",
    "data.img_size=[8,8]",
    "model.name=vit_t/2",
    "model.embed_dim=32",
    "model.depth=2",
    "model.num_heads=2",
    "model.pos_embed_std=1.0",
    "train.precision=fp32",
    "train.progress=false",
    "train.batch_size=32",
]


def run(tmp_path, *extra, name="run"):
    return train_from_config(None, [*TINY, f"run_dir={tmp_path / name}", *extra])


def test_learns_digits_and_writes_the_run_directory(tmp_path):
    summary = run(
        tmp_path, "train.epochs=6", "optim.lr=3e-3", "train.eval_every=3", "train.log_every_steps=10", "data.val_fraction=0.1"
    )
    out = tmp_path / "run"
    assert summary["status"] == "finished" and summary["step"] == 6 * ((1437 - 144) // 32)
    assert summary["final"]["acc1"] > 60.0, summary  # chance is 10%
    assert summary["selection"] | {"best": None, "best_epoch": None} == {
        "held_out_of": "train", "val_fraction": 0.1, "val_seed": 0, "images": 144, "metric": "val_acc1", "best": None,
        "best_epoch": None,
    }  # fmt: skip
    evals = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["tag"] == "eval"]
    assert summary["best"]["acc1"] == max(r["val_acc1"] for r in evals)  # chosen on the validation set
    for name in ("config.yaml", "summary.json", "metrics.jsonl", "final/model.safetensors", "best/config.json"):
        assert (out / name).is_file(), name
    assert list((out / "tb").iterdir()), "no TensorBoard events"
    # eval through the CLI's code path gives the final metrics again
    again = evaluate_checkpoint(out, device="cpu")
    assert again["acc1"] == pytest.approx(summary["final"]["acc1"])


def test_overfits_a_small_batch(tmp_path):
    summary = run(
        tmp_path, "data.limit_train=32", "data.limit_eval=32", "data.eval_split=train", "train.epochs=100",
        "optim.lr=5e-3", "optim.weight_decay=0", "model.drop_path_rate=0", "train.eval_every=100",
    )  # fmt: skip
    assert summary["final"]["acc1"] == 100.0 and summary["final"]["loss"] < 0.2  # chance: ln 10 = 2.3


RESUME = ["train.epochs=2", "data.limit_train=256", "augment.crop=pad", "augment.crop_padding=1", "augment.mixup=0.2",
          "augment.cutmix=0.5", "model.drop_path_rate=0.2", "train.ema_decay=0.9", "optim.warmup_epochs=1"]  # fmt: skip


def test_resume_reaches_the_same_parameters_as_an_uninterrupted_run(tmp_path):
    run(tmp_path, *RESUME, name="straight")
    stopped = run(tmp_path, *RESUME, "train.max_steps=11", "train.keep_checkpoints=1", name="resumed")
    assert stopped["status"].startswith("reached") and stopped["step"] == 11  # mid-epoch 2 (8 steps an epoch)
    assert not (tmp_path / "resumed" / "final").exists()
    finished = run(tmp_path, *RESUME, name="resumed")
    assert finished["status"] == "finished" and finished["step"] == 16
    a = load_file(tmp_path / "straight" / "final" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "final" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_a_changed_config_does_not_resume_into_an_old_run(tmp_path):
    run(tmp_path, "train.epochs=1", "data.limit_train=64")
    with pytest.raises(ConfigError, match=r"different config \(model.depth: 2 -> 3"):
        run(tmp_path, "train.epochs=1", "data.limit_train=64", "model.depth=3")


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path):
    cfg = load_config(None, [*TINY, f"run_dir={tmp_path}", "train.epochs=4", "train.max_steps=6", "data.limit_train=64"])
    trainer = Trainer(cfg, build_task(cfg), tmp_path)
    trainer.fit()
    good = list_checkpoints(tmp_path)[-1]
    cfg.train.max_steps = None  # a resumable change
    poisoned = Trainer(cfg, build_task(cfg), tmp_path)
    original = poisoned.task.loss
    poisoned.task.loss = lambda *a: original(*a) * float("nan")
    with pytest.raises(NonFiniteLossError, match="at step 7"):
        poisoned.fit()
    assert list_checkpoints(tmp_path)[-1] == good and load_checkpoint(good)["progress"]["step"] == 6


def test_skip_mode_stops_a_run_that_skips_every_step(tmp_path):
    cfg = load_config(None, [*TINY, f"run_dir={tmp_path}", "train.epochs=4", "data.limit_train=64",
                             "train.on_nonfinite=skip", "train.max_consecutive_skips=3"])  # fmt: skip
    trainer = Trainer(cfg, build_task(cfg), tmp_path)
    original = trainer.task.loss
    trainer.task.loss = lambda *a: original(*a) * float("nan")
    with pytest.warns(UserWarning, match="skipping step"), pytest.raises(NonFiniteLossError, match="3 steps in a row"):
        trainer.fit()
    assert not (tmp_path / "final").exists()


def test_resume_refuses_another_config_or_model_by_name_even_without_config_yaml(tmp_path):
    run(tmp_path, "train.epochs=1", "data.limit_train=64")
    (tmp_path / "run" / "config.yaml").unlink()
    with pytest.raises(ConfigError, match=r"different config \(optim\.lr: None -> 0\.01\)"):
        run(tmp_path, "train.epochs=1", "data.limit_train=64", "optim.lr=1e-2")
    with pytest.raises(ConfigError, match=r"model\.embed_dim: 32 -> 48"):
        run(tmp_path, "train.epochs=1", "data.limit_train=64", "model.embed_dim=48")
    assert not (tmp_path / "run" / "config.yaml").exists()  # written only after every check passed


def test_a_finished_run_run_again_keeps_its_timings(tmp_path):
    first = run(tmp_path, "train.epochs=1", "data.limit_train=64")
    again = run(tmp_path, "train.epochs=1", "data.limit_train=64")
    assert again["status"] == "finished" and again["step"] == first["step"] and again["final"] == first["final"]
    stored = load_checkpoint(list_checkpoints(tmp_path / "run")[-1])["progress"]
    assert stored["wall_time_s"] > 0 and stored["images_seen"] == 64 // 32 * 32  # one epoch of 2 batches
    assert again["wall_time_s"] >= round(stored["wall_time_s"], 2) > 0  # the sessions' total, not the idle re-run's zero
    assert again["train_images_per_s"] > 0


def test_a_moved_run_directory_resumes(tmp_path):
    run(tmp_path, "train.epochs=2", "train.max_steps=3", "data.limit_train=64", name="a")
    (tmp_path / "a").rename(tmp_path / "b")
    summary = run(tmp_path, "train.epochs=2", "data.limit_train=64", name="b")
    assert summary["status"] == "finished" and summary["step"] == 4


def test_another_attention_kernel_resumes_the_same_run(tmp_path):
    run(tmp_path, "train.epochs=2", "train.max_steps=3", "data.limit_train=64")
    summary = run(tmp_path, "train.epochs=2", "data.limit_train=64", "train.sdpa_backend=math")
    assert summary["status"] == "finished" and summary["step"] == 4


def test_a_second_process_on_the_same_run_directory_is_refused_with_the_holders_pid(tmp_path):
    from pixelvit.engine.run_dir import RunDirBusyError, RunDirLock

    holder = subprocess.Popen(
        [sys.executable, "-c", f"from pixelvit.engine.run_dir import RunDirLock\nimport time\n"
         f"with RunDirLock({str(tmp_path)!r}):\n    print('locked', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirBusyError, match=f"in use by process {holder.pid}"):
            run(tmp_path, "train.epochs=1", name="")
        with pytest.raises(RunDirBusyError), RunDirLock(tmp_path):
            pass
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock
        holder.wait()
    with RunDirLock(tmp_path):
        pass


def test_sigint_saves_a_checkpoint_that_resumes(tmp_path):
    """Ctrl-C (SIGINT) mid-run leaves a usable checkpoint; the same command resumes from it."""
    args = [
        sys.executable,
        "-m",
        "pixelvit",
        "train",
        "-",
        *TINY,
        f"run_dir={tmp_path}",
        "train.epochs=200",
        "data.limit_train=64",
    ]
    args[4] = str(Path(__file__).parent / "empty.yaml")
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    deadline = time.time() + 120
    while not (tmp_path / "metrics.jsonl").exists() or not list_checkpoints(tmp_path):
        assert time.time() < deadline and proc.poll() is None, proc.stdout.read() if proc.poll() is not None else "timeout"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "stopped by SIGINT" in out and "Run the same command again to resume" in out
    state = load_checkpoint(list_checkpoints(tmp_path)[-1])
    assert state["progress"]["step"] > 0


def test_on_nonfinite_skip_skips_only_the_bad_step(tmp_path):
    cfg = load_config(None, [*TINY, f"run_dir={tmp_path}", "train.epochs=1", "data.limit_train=128", "train.on_nonfinite=skip"])
    trainer = Trainer(cfg, build_task(cfg), tmp_path)
    original, calls = trainer.task.loss, []

    def poisoned(*args):
        calls.append(1)
        loss = original(*args)
        return loss * float("nan") if len(calls) == 2 else loss

    trainer.task.loss = poisoned
    with pytest.warns(UserWarning, match="skipping step 2"):
        summary = trainer.fit()
    assert summary["status"] == "finished" and summary["step"] == 4 and summary["skipped_steps"] == 1
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_too_little_data_for_one_step_is_a_clear_error(tmp_path):
    cfg = load_config(None, [*TINY, f"run_dir={tmp_path}", "data.limit_train=10"])
    with pytest.raises(ValueError, match="0 batches of 32 per process and epoch"):
        Trainer(cfg, build_task(cfg), tmp_path)


def test_torch_compile_option_trains(tmp_path):
    summary = run(tmp_path, "train.compile=true", "train.max_steps=2", "data.limit_train=64", "data.limit_eval=32")
    assert summary["step"] == 2


def test_rerunning_a_finished_run_reports_its_final_metrics(tmp_path):
    first = run(tmp_path, "train.epochs=1", "data.limit_train=64")
    again = run(tmp_path, "train.epochs=1", "data.limit_train=64")
    assert again["step"] == first["step"] and again["final"] == first["final"] and first["final"]["acc1"] >= 0


def test_a_kill_right_after_an_epoch_end_evaluation_logs_it_once(tmp_path):
    """The step checkpoint at an epoch's last step is written before the evaluation; a kill after the evaluation was
    logged but before the epoch-end checkpoint resumes from the first, which evaluates again."""
    cfg = load_config(None, [*TINY, f"run_dir={tmp_path}", "train.epochs=2", "data.limit_train=64",
                             "train.checkpoint_every_steps=1", "train.log_every_steps=1"])  # fmt: skip
    killed = Trainer(cfg, build_task(cfg), tmp_path)
    step_checkpoint = killed.save

    def save_then_die_at_the_epoch_end(*args, **kwargs):
        if killed.progress.epoch == 1 and killed.progress.batch_in_epoch == 0:  # the evaluation has been logged
            raise SystemExit("killed")
        return step_checkpoint(*args, **kwargs)

    killed.save = save_then_die_at_the_epoch_end
    with pytest.raises(SystemExit):
        killed.fit()

    def logged() -> list[tuple[str, int]]:
        return [(r["tag"], r["step"]) for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())]

    assert logged()[-1] == ("eval", 2)
    Trainer(cfg, build_task(cfg), tmp_path).fit()
    assert logged() == [("train", 1), ("train", 2), ("eval", 2), ("train", 3), ("train", 4), ("eval", 4)]


def test_rerunning_a_run_that_reached_max_steps_trains_no_further_step(tmp_path, capsys):
    """D6: each re-run used to train one more step and write another checkpoint ("max_steps=3 at step 4")."""
    first = run(tmp_path, "train.epochs=4", "train.max_steps=3", "data.limit_train=64")
    written = {p.name: p.stat().st_mtime_ns for p in list_checkpoints(tmp_path / "run")}
    again = run(tmp_path, "train.epochs=4", "train.max_steps=3", "data.limit_train=64")
    assert first["step"] == again["step"] == 3 and again["status"] == "reached train.max_steps=3"
    assert {p.name: p.stat().st_mtime_ns for p in list_checkpoints(tmp_path / "run")} == written
    assert "reached train.max_steps=3 at step 3" in capsys.readouterr().out


def test_a_run_restarted_from_zero_drops_the_failed_attempts_metrics(tmp_path):
    """D9: with no usable checkpoint the run starts over, and metrics.jsonl must not keep the earlier records."""
    import shutil

    args = ("train.epochs=4", "data.limit_train=64", "train.log_every_steps=1")
    run(tmp_path, *args, "train.max_steps=4")
    shutil.rmtree(tmp_path / "run" / "checkpoints")  # e.g. every checkpoint was corrupt
    run(tmp_path, *args, "train.max_steps=2")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["tag"] == "train"] == [1, 2]


def test_a_non_finite_stop_before_any_checkpoint_says_there_is_none(tmp_path):
    cfg = load_config(None, [*TINY, f"run_dir={tmp_path}", "train.epochs=4", "data.limit_train=64"])
    trainer = Trainer(cfg, build_task(cfg), tmp_path)
    original = trainer.task.loss
    trainer.task.loss = lambda *a: original(*a) * float("nan")
    with pytest.raises(NonFiniteLossError, match="at step 1; no checkpoint was written yet, so a rerun starts from step 0"):
        trainer.fit()


def test_the_resumable_changes_the_docs_list_are_the_ones_a_resume_accepts():
    from pixelvit.engine.run_dir import RESUMABLE_CHANGES, config_changes

    doc = (Path(__file__).parents[2] / "docs" / "distributed.md").read_text()
    assert [key for key in RESUMABLE_CHANGES if f"`{key}`" not in doc] == []
    pooled = [*TINY, "model.class_token=false", "model.global_pool=avg"]
    before = load_config(None, [*pooled, "run_dir=a"])
    after = load_config(None, [*pooled, "run_dir=b", "train.sdpa_backend=math", "train.context_parallel=2",
                               "train.max_steps=5", "train.keep_checkpoints=4", "data.num_workers=1",
                               "paper.source=own", "paper.table=another", "paper.metrics={acc1: 1.0}"])  # fmt: skip
    assert config_changes(before.to_dict(), after.to_dict()) == []
    assert config_changes(before.to_dict(), load_config(None, [*pooled, "train.batch_size=16"]).to_dict()) == [
        "train.batch_size: 32 -> 16"
    ]
