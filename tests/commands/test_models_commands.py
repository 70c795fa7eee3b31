"""``pixelvit export --to timm`` and ``pixelvit push`` end to end, on a model trained by ``train_from_config``."""

import argparse
import json
from typing import ClassVar

import numpy as np
import pytest
import timm
import torch
import yaml
from PIL import Image

from fixtures.hub import add_to_cache, use_hub_cache
from pixelvit import from_pretrained
from pixelvit.commands import models as model_commands
from pixelvit.data.digits import load_digits_arrays
from pixelvit.tasks.recipes import DIGITS
from pixelvit.tasks.training import train_from_config

TINY = [*DIGITS, "model.embed_dim=16", "model.depth=1", "model.num_heads=2", "train.epochs=4", "train.eval_every=4",
        "train.log_every_steps=44", "optim.warmup_epochs=0.5", "data.num_workers=0", "paper.metrics={acc1: 85.1, acc5: 96.4}",
        "paper.table='slides: Supervised Learning (a) CIFAR-100'"]  # fmt: skip


def run_command(argv: list[str]) -> int:
    """The command module's parser alone (as ``pixelvit`` registers it)."""
    parser = argparse.ArgumentParser(prog="pixelvit")
    model_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two classifiers trained for one epoch on the digits: /1 (class token) and /2 (average pooling)."""
    root = tmp_path_factory.mktemp("runs")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    train_from_config(
        None, [*TINY, "model.patch_size=1", "model.global_pool=token", "model.class_token=true", f"run_dir={root / 'p1'}"]
    )
    train_from_config(None, [*TINY, "model.patch_size=2", f"run_dir={root / 'p2'}"])
    torch.set_num_threads(before)
    return root


@pytest.mark.parametrize("run", ["p1", "p2"])
def test_a_trained_model_exported_opens_in_timm_with_the_same_logits(runs, tmp_path, capsys, run):
    out = tmp_path / "timm"
    assert run_command(["export", "--to", "timm", str(runs / run), str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"open it with: timm.create_model('local-dir:{out}', pretrained=True)" in printed
    ours = from_pretrained(runs / run / "final").eval()
    theirs = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    # the digits' test images through timm's own evaluation transform (PIL in, normalised tensor out)
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=theirs))
    images = load_digits_arrays(split="test").images[:16]
    batch = torch.stack([transform(Image.fromarray(np.asarray(img)[0])) for img in images])
    with torch.no_grad():
        expected, got = ours(torch.from_numpy(np.asarray(images))), theirs(batch)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert (got.argmax(1) == expected.argmax(1)).all() and len(
        set(expected.argmax(1).tolist())
    ) >= 3  # a model that tells digits apart


def test_export_refuses_what_timm_cannot_represent(tmp_path):
    from pixelvit import create_model, save_pretrained

    save_pretrained(create_model("mae_vit_t/1", img_size=8, embed_dim=16, depth=1, num_heads=2), tmp_path / "mae")
    with pytest.raises(ValueError, match="cannot export to timm: timm has no counterpart of pixelvit's 'mae' family"):
        run_command(["export", "--to", "timm", str(tmp_path / "mae"), str(tmp_path / "out")])
    with pytest.raises(SystemExit):
        run_command(["export", "--to", "onnx", str(tmp_path / "mae"), str(tmp_path / "out")])


def test_push_dry_run_writes_the_repo_folder_and_card(runs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "repo"
    assert run_command(["push", str(runs / "p1"), "my-lab/pixel-digits", "--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: README.md, config.json, model.safetensors, train_config.yaml" in printed
    assert "dry run: nothing uploaded to my-lab/pixel-digits" in printed
    assert (out / "model.safetensors").read_bytes() == (runs / "p1" / "final" / "model.safetensors").read_bytes()
    assert from_pretrained(out).config == from_pretrained(runs / "p1" / "final").config
    assert yaml.safe_load((out / "train_config.yaml").read_text()) == yaml.safe_load((runs / "p1" / "config.yaml").read_text())
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front == {"library_name": "pixelvit", "tags": ["pixelvit", "vision-transformer", "patch-size-1"],
                     "pipeline_tag": "image-classification"}  # fmt: skip
    summary = json.loads((runs / "p1" / "summary.json").read_text())
    assert "# my-lab/pixel-digits: /1 · 64 tokens · digits 8×8" in card
    assert "| tokens | 64 = (8/1)·(8/1) |" in card and "| width / depth / heads | 16 / 1 / 2 |" in card
    assert f"| acc1 | {summary['final']['acc1']:.2f} | 85.10 |" in card
    assert f"| acc5 | {summary['final']['acc5']:.2f} | 96.40 |" in card
    assert "Paper row: slides: Supervised Learning (a) CIFAR-100" in card
    assert "`digits` at 8×8 (split `train`, evaluated on `test`); 4 epochs, batch 64, lr 0.002, precision fp32" in card
    assert "pixelvit train train_config.yaml run_dir=runs/p1\n" in card
    assert 'model = from_pretrained("my-lab/pixel-digits")' in card
    assert "For timm: `pixelvit export --to timm my-lab/pixel-digits timm_p1`" in card
    # the card's timm line works once the folder is on the Hub (here: a fabricated offline cache)
    add_to_cache(use_hub_cache(tmp_path, monkeypatch), "my-lab/pixel-digits", out)
    monkeypatch.chdir(tmp_path)
    assert run_command(["export", "--to", "timm", "my-lab/pixel-digits", "timm_p1"]) == 0
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        got = timm.create_model(f"local-dir:{tmp_path / 'timm_p1'}", pretrained=True).eval()(x)
        torch.testing.assert_close(got, from_pretrained(out).eval()(x), rtol=1e-5, atol=1e-5)
    # without --out, a dry run writes RUN_DIR/hub, which the report does not take for an analysis
    assert run_command(["push", str(runs / "p2"), "my-lab/patch-digits", "--dry-run"]) == 0
    assert "| tokens | 16 = (8/2)·(8/2) |" in (runs / "p2" / "hub" / "README.md").read_text()


class FakeApi:
    calls: ClassVar[list] = []

    def create_repo(self, repo_id, exist_ok=False):
        self.calls.append(("create_repo", repo_id))

    def upload_folder(self, repo_id, folder_path, commit_message):
        from pathlib import Path

        self.calls.append(("upload_folder", repo_id, sorted(p.name for p in Path(folder_path).iterdir()), commit_message))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/1"})()


def test_push_uploads_the_folder_and_is_refused_offline(runs, monkeypatch, capsys):
    import huggingface_hub

    with pytest.raises(ValueError, match="HF_HUB_OFFLINE=1 is set: uploading to lab/m needs the network"):
        run_command(["push", str(runs / "p2"), "lab/m"])
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    FakeApi.calls = []
    assert run_command(["push", str(runs / "p2"), "lab/m"]) == 0
    files = ["README.md", "config.json", "model.safetensors", "train_config.yaml"]
    assert FakeApi.calls == [("create_repo", "lab/m"), ("upload_folder", "lab/m", files, "Add pixelvit model from run p2")]
    assert f"uploaded {', '.join(files)} to https://huggingface.co/lab/m/commit/1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="'not a repo' is not a Hub repository id"):
        run_command(["push", str(runs / "p2"), "not a repo", "--dry-run"])
