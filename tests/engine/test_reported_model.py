"""The number a run reports is its shipped model's, chosen without the test split, with its provenance: an EMA
run's printed, saved, evaluated, reported and carded numbers agree and name their weights; best/ is chosen on a
validation set held out of the training data, never on the test split."""

import json

import pytest
import yaml

from pixelvit.commands import main
from pixelvit.config import load_config
from pixelvit.engine.run_info import read_run
from pixelvit.engine.trainer import Trainer
from pixelvit.tasks import build_task
from pixelvit.tasks.training import evaluate_checkpoint, train_from_config

TINY = ["data.name=digits", "data.img_size=[8,8]", "model.name=vit_t/4", "model.embed_dim=16", "model.depth=1",
        "model.num_heads=2", "model.pos_embed_std=1.0", "train.precision=fp32", "train.progress=false",
        "train.batch_size=64", "data.limit_train=512", "data.limit_eval=128", "optim.lr=3e-3"]  # fmt: skip


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ema") / "run"
    summary = train_from_config(None, [*TINY, "train.epochs=3", "train.ema_decay=0.9", "data.val_fraction=0.25",
                                       f"run_dir={run_dir}"])  # fmt: skip
    return run_dir, summary


def test_saved_weights_metrics_takes_the_ema_values_under_plain_names():
    from pixelvit.engine.run_info import saved_weights_metrics

    metrics = {"acc1": 90.0, "loss": 0.3, "ema_acc1": 60.0, "ema_loss": 1.1, "val_acc1": 1.0, "val_ema_acc1": 2.0,
               "attn/mean": 3.0}  # fmt: skip
    assert saved_weights_metrics(metrics, "ema") == {"acc1": 60.0, "loss": 1.1, "attn/mean": 3.0}
    assert saved_weights_metrics(metrics, "raw") == {"acc1": 90.0, "loss": 0.3, "attn/mean": 3.0}


def test_an_ema_runs_numbers_agree_everywhere_and_name_their_weights(ema_run, capsys, one_thread, tmp_path):
    run_dir, summary = ema_run
    final = summary["final"]
    assert summary["weights"] == "ema" and final["acc1"] != final["ema_acc1"]  # both evaluated, raw and EMA
    assert summary["reported"] == {"acc1": final["ema_acc1"], "acc5": final["ema_acc5"], "loss": final["ema_loss"]}
    for name in ("final", "best"):
        info = json.loads((run_dir / name / "weights.json").read_text())
        assert info["weights"] == "ema", name
    assert json.loads((run_dir / "summary.json").read_text())["reported"] == summary["reported"]
    # eval of the saved files measures the reported number, and says which weights
    again = evaluate_checkpoint(run_dir, device="cpu")
    assert again["acc1"] == pytest.approx(summary["reported"]["acc1"])
    assert main(["eval", str(run_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"weights: {run_dir / 'final'} (EMA, step {summary['step']}, epoch 3)" in out
    assert f"acc1: {summary['reported']['acc1']:.3f}" in out and "the run reported: acc1" in out
    # report and model card show the saved weights' number and name them
    run = read_run(run_dir)
    assert run["final"] == summary["reported"] and run["weights"] == "ema"
    from pixelvit.analysis.report import build_report

    md = build_report([run_dir], tmp_path / "report").read_text()
    assert "EMA weights for run" in md and f"| {summary['reported']['acc1']:.2f} |" in md
    from pixelvit.engine.publish import model_card

    card = model_card(run_dir, "me/tiny")
    assert f"{summary['reported']['acc1']:.2f}" in card and "EMA weights" in card
    assert f"{final['acc1']:.2f}" not in card.split("## ")[1] or final["acc1"] == summary["reported"]["acc1"]


def test_the_runs_last_line_is_the_saved_weights_number(tmp_path, capsys, one_thread):
    run_dir = tmp_path / "run"
    summary = train_from_config(None, [*TINY, "train.epochs=1", "train.ema_decay=0.9", f"run_dir={run_dir}"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    reported = ", ".join(f"{k} {v:.2f}" for k, v in summary["reported"].items())
    assert last == f"final (EMA weights, saved in final/; test split): {reported}"
    assert not (run_dir / "best").exists() and summary["best"] == {} and summary["selection"] is None


def test_no_selection_touches_the_test_split(tmp_path, one_thread):
    """best/ follows the validation set: a test split that keeps improving while validation worsens keeps best/
    at the first epoch; and without a validation set there is no best/ at all."""
    cfg = load_config(None, [*TINY, "data.val_fraction=0.25", f"run_dir={tmp_path / 'run'}"])
    task = build_task(cfg)
    trainer = Trainer(cfg, task, tmp_path / "run")
    assert len(task.selection.dataset) == 128 and len(task.train_set) == 384 and len(task.evaluation.dataset) == 128
    test_scores, val_scores = iter([10.0, 50.0, 90.0]), iter([80.0, 40.0, 20.0])
    seen = []

    def fake_evaluate(evaluation=None):
        seen.append("val" if evaluation is task.selection else "test")
        return {"acc1": next(val_scores if evaluation is task.selection else test_scores)}

    trainer.evaluate = fake_evaluate
    saved = []
    trainer._save_model = lambda name: saved.append((name, trainer.progress.epoch))
    for epoch in (1, 2, 3):
        trainer.progress.epoch = epoch
        trainer._eval_and_keep_best(None)
    assert saved == [("best", 1)] and trainer.progress.best == 80.0 and seen == ["test", "val"] * 3
    # no validation set: the test split is evaluated, nothing is chosen
    cfg = load_config(None, [*TINY, f"run_dir={tmp_path / 'run2'}"])
    task = build_task(cfg)
    trainer = Trainer(cfg, task, tmp_path / "run2")
    trainer.evaluate = lambda evaluation=None: {"acc1": 50.0}
    trainer._save_model = lambda name: saved.append(name)
    trainer._eval_and_keep_best(None)
    assert task.selection is None and saved == [("best", 1)] and trainer.progress.best is None


def test_the_validation_split_is_seeded_disjoint_and_recorded(tmp_path):
    from pixelvit.data.splits import train_and_validation

    d = load_config(None, [*TINY, "data.val_fraction=0.25", "data.val_seed=3"]).data
    _, train, val = train_and_validation(d)
    val2 = train_and_validation(d)[2]
    assert (val.images == val2.images).all() and len(train.images) + len(val.images) == 512
    _, full, _ = train_and_validation(load_config(None, TINY).data)
    rows = {bytes(x) for x in full.images.reshape(512, -1)}
    assert all(bytes(x) in rows for x in val.images.reshape(len(val.images), -1))
    d.val_seed = 4
    assert not (train_and_validation(d)[2].images == val.images).all()


def test_val_options_are_checked():
    from pixelvit.config import ConfigError

    with pytest.raises(ConfigError, match=r"data\.val_split=test is also the evaluation split"):
        load_config(None, ["data.val_split=test"])
    with pytest.raises(ConfigError, match="keep one"):
        load_config(None, ["data.val_split=val", "data.val_fraction=0.1"])
    with pytest.raises(ConfigError, match=r"data.val_fraction=1.0 must be in \[0, 1\)"):
        load_config(None, ["data.val_fraction=1.0"])


def test_provenance_in_summary_config_and_version(ema_run, capsys):
    run_dir = ema_run[0]
    prov = json.loads((run_dir / "summary.json").read_text())["provenance"]
    assert set(prov) == {"pixelvit", "git", "python", "torch", "timm", "cuda", "device", "command"}
    assert prov["device"] == "cpu" and prov["torch"] and set(prov["git"]) == {"commit", "dirty"}
    text = (run_dir / "config.yaml").read_text()
    assert text.startswith("# pixelvit ") and "# command: " in text
    assert yaml.safe_load(text)["train"]["ema_decay"] == 0.9  # the header is a comment: loading ignores it
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("pixelvit ")


def test_provenance_outside_a_git_checkout_is_none_not_an_error(tmp_path, monkeypatch):
    from pixelvit import provenance

    assert provenance.git_state(tmp_path) == {"commit": None, "dirty": None}
    monkeypatch.setattr(provenance, "git_root", lambda start=None: None)
    info = provenance.provenance("cpu", ["pixelvit", "train", "a b.yaml"])
    assert info["git"] == {"commit": None, "dirty": None} and info["command"] == "pixelvit train 'a b.yaml'"
    assert "no git checkout" in provenance.provenance_lines(info)[0]


def test_a_datasets_own_val_split_is_the_validation_set(monkeypatch):
    from pixelvit.data import splits

    calls = []

    def fake_load_split(d, split, limit, train=False):
        calls.append((split, limit))
        return None, split

    monkeypatch.setattr(splits, "load_split", fake_load_split)
    d = load_config(None, ["data.val_split=val", "data.limit_eval=7", "data.limit_train=9"]).data
    assert splits.train_and_validation(d) == (None, "train", "val")
    assert calls == [("train", 9), ("val", 7)]


def test_eval_of_an_unfinished_run_names_the_checkpoint_it_used(tmp_path, capsys, one_thread):
    run_dir = tmp_path / "run"
    train_from_config(None, [*TINY, "train.epochs=2", "train.max_steps=3", f"run_dir={run_dir}"])
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"weights: {run_dir / 'checkpoints'}/step_" in out and "(raw, step 3, epoch 0)" in out
    assert "the run has not reported a final number yet (not finished)" in out
