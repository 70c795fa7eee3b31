"""What a user reads: eval says which model, split and images; rough edges are one clear line; the summary puts
paper numbers beside the run's only when they are the same metrics; warnings before a run that cannot go well."""

import json

import pytest

from pixelvit.commands import main
from pixelvit.config import load_config
from pixelvit.tasks.preflight import threads_warning, warmup_warning
from pixelvit.tasks.run import format_summary
from pixelvit.tasks.training import train_from_config

TINY = ["model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.epochs=1", "train.batch_size=32",
        "data.limit_train=64", "data.limit_eval=64", "train.progress=false", "optim.warmup_epochs=0"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    train_from_config(None, ["data.name=digits", "data.img_size=[8,8]", "model.name=vit_t/2", "train.precision=fp32",
                             *TINY, f"run_dir={run_dir}"])  # fmt: skip
    return run_dir


def test_eval_says_which_weights_model_split_and_images_and_reproduces_the_run(run, capsys, one_thread):
    assert main(["eval", str(run), "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()[-5:]
    assert out[0] == f"weights: {run / 'final'} (raw, step 2, epoch 1)"
    assert out[1] == "model: vit/2 (embed_dim 16, depth 1, num_heads 2), 8x8 input, 16 tokens"
    assert out[2].startswith("data: digits/test, 64 images (first 64), precision fp32; threads: ")  # the run's limit, precision
    assert out[3].startswith("acc1: ")
    assert out[4].startswith("the run reported: acc1: ")
    reported = json.loads((run / "summary.json").read_text())["reported"]
    assert out[3].split("  ")[0] == out[4].removeprefix("the run reported: ").split("  ")[0] == f"acc1: {reported['acc1']:.3f}"
    assert main(["eval", str(run), "--split", "train", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "data: digits/train, 1437 images (all), precision fp32" in out
    assert (
        "not the run's own setting, so the number may differ from its summary: data digits/train (the run's: digits/test)" in out
    )
    assert main(["eval", str(run), "--limit", "0", "--precision", "bf16", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "data: digits/test, 360 images (all), precision bf16" in out
    assert "limit None (the run's data.limit_eval: 64); precision bf16 (the run's: fp32)" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["{missing}"], "{missing} does not exist"),
        (["{run}", "--data", "digits", "--root", "{missing}"], "--root {missing} does not exist"),
        (["{run}", "--data", "cifar100"], "the model takes 8x8 images but cifar100's are 32x32"),
    ],
)
def test_eval_errors_name_the_problem_and_never_suggest_config_keys(run, tmp_path, capsys, args, message):
    fill = {"run": run, "missing": tmp_path / "missing"}
    assert main(["eval", *(a.format(**fill) for a in args), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pixelvit eval: error: ") and message.format(**fill) in err
    assert "data.img_size" not in err and len(err.strip().splitlines()) == 1


def test_fid_with_a_missing_reference_names_the_file(tmp_path, capsys):
    import numpy as np

    samples = tmp_path / "samples.npz"
    np.savez(samples, arr_0=np.zeros((2, 8, 8, 3), np.uint8))
    assert main(["fid", str(samples), str(tmp_path / "ref.npz"), "--features", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    expected = f"reference batch {tmp_path / 'ref.npz'} does not exist (expected an .npz with arr_0: uint8 N x H x W x 3)"
    assert err.strip() == f"pixelvit fid: error: {expected}"


def test_demo_labels_follow_its_runs_and_max_steps_is_a_clear_error(tmp_path, capsys, one_thread):
    out = tmp_path / "demo"
    assert main(["demo", "--patch-sizes", "2,4", "--out", str(out), *TINY]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert [(r["patch_size"], r["tokens"], r["data"], r["img_size"], r["eval_images"], r["num_classes"]) for r in rows] == [
        (2, 16, "digits", [8, 8], 64, 10),
        (4, 4, "digits", [8, 8], 64, 10),
    ]
    assert (out / "accuracy_vs_patch.png").stat().st_size > 5000 and "| /2 | 16 |" in (out / "table.md").read_text()
    capsys.readouterr()
    assert main(["demo", "--patch-sizes", "2", "--out", str(tmp_path / "short"), *TINY, "train.max_steps=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pixelvit demo: error: the /2 run stopped before its last epoch (reached train.max_steps=1)")
    assert "drop train.max_steps" in err and "Errno" not in err


def summary(final, best, paper):
    return {"status": "finished", "step": 1, "wall_time_s": 1.0, "final": final, "best": best, "paper": paper}


def test_mae_pretraining_summary_does_not_put_a_fine_tuning_accuracy_beside_its_loss():
    cfg = load_config("configs/mae/pretrain_vit_t1.yaml")
    text = format_summary(cfg, summary({"loss": 0.365}, {"loss": 0.365}, cfg.paper.metrics))
    assert "paper: acc1" not in text
    (line,) = [x for x in text.splitlines() if "paper" in x]
    assert line.startswith("paper values belong to another row (slides: Self-Supervised Learning with MAE")
    assert line.endswith("acc1 86.00, acc5 97.10; this run reports loss")
    cfg = load_config("configs/cifar100/vit_t1.yaml")
    text = format_summary(cfg, summary({"acc1": 80.0, "acc5": 95.0}, {"acc1": 80.0}, cfg.paper.metrics))
    assert "paper: acc1 85.10, acc5 96.40" in text.splitlines()


def test_paper_numbers_only_beside_a_run_of_the_rows_recipe():
    # where and how a run executes keeps it comparable with its row
    cfg = load_config(
        "configs/cifar100/vit_t1.yaml", ["train.device=cpu", "data.root=elsewhere", "run_dir=r", "train.progress=false"]
    )
    assert cfg.paper.mismatch == []
    # the fine-tuning row started from one's own pre-training run is still that row; from scratch it is not
    assert load_config("configs/mae/finetune_vit_t1.yaml", ["model.init_from=runs/my_mae"]).paper.mismatch == []
    # another dataset and a from-scratch start: the MAE fine-tuning row's numbers are not this run's
    overrides = ["data.name=digits", "data.img_size=[8,8]", "model.init_from=null", "data.root=null"]
    cfg = load_config("configs/mae/finetune_vit_t1.yaml", overrides)
    assert [m.split(":")[0] for m in cfg.paper.mismatch] == ["data.img_size", "data.name", "model.init_from"]
    text = format_summary(cfg, summary({"acc1": 80.0}, {}, {}) | {"paper_mismatch": cfg.paper.mismatch})
    assert "86.00" not in text and "paper: " not in text
    assert "paper numbers not shown: this run changes the recipe of its row (data.img_size, data.name, model.init_from)" in text


def test_warmup_warnings():
    cfg = load_config("configs/mae/pretrain_vit_t1.yaml", ["train.epochs=5"])
    assert warmup_warning(cfg, 49).startswith("optim.warmup_epochs=40 is not shorter than train.epochs=5")
    cfg = load_config("configs/mae/pretrain_vit_t1.yaml", ["train.max_steps=100"])
    assert warmup_warning(cfg, 49) == (
        "the warm-up (40 epochs = 1960 steps) is longer than train.max_steps=100: the learning rate never reaches its "
        "peak; lower optim.warmup_epochs"
    )
    assert warmup_warning(load_config("configs/mae/pretrain_vit_t1.yaml"), 49) is None
    assert warmup_warning(load_config(None, ["optim.warmup_epochs=0", "train.epochs=1"]), 10) is None


def test_threads_warning_names_the_fix():
    assert threads_warning(2, 2, 2, 0.5) is None
    text = threads_warning(2, 1, 2, 3.0)
    assert "torch will use 2 threads but only about 1 of this machine's 2 cores are free (load 3.0)" in text
    assert "train.threads=1" in text and "train.threads=auto with OMP_NUM_THREADS unset" in text


def test_a_run_whose_warmup_outlasts_it_warns_on_stderr(tmp_path, capsys, one_thread):
    overrides = ["data.name=digits", "model.name=vit_t/4", "train.precision=fp32", *TINY, "optim.warmup_epochs=3"]
    train_from_config(None, [*overrides, f"run_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert "warning: optim.warmup_epochs=3 is not shorter than train.epochs=1" in err
