"""The command line: help, listing, preparing, and clear errors (exit code 2) on bad input."""

import subprocess
import sys

import numpy as np
import pytest

from fixtures.fabricate import make_imagenet_folders
from pixelvit.commands import main


def all_commands() -> list[str]:
    from pixelvit.commands import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sorted(sub.choices)


def test_every_area_registers_its_commands():
    assert {"train", "eval", "prepare", "models", "demo", "dit-demo", "attention-distance", "mae-show", "depth-show",
            "report", "sample", "fid", "prepare-latents", "bench", "export", "push"} <= set(all_commands())  # fmt: skip


@pytest.mark.parametrize("command", all_commands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: pixelvit " + command in capsys.readouterr().out


def test_module_entry_point_lists_models():
    out = subprocess.run(
        [sys.executable, "-m", "pixelvit", "models", "vit_s/*"], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["vit_s/1", "vit_s/2", "vit_s/4", "vit_s/8", "vit_s/16"]


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["data.img_size=[16,16]"], "data.img_size=[16, 16] does not match digits's images, which are 8x8"),
        (["model.pach_size=2"], "Did you mean model.patch_size"),
        (["data.name=cifar100", "data.img_size=[32,32]", "data.root={tmp}"], "cifar-100-python"),
        (["data.name=imagenet", "data.img_size=[28,28]", "data.root={tmp}"], "pixelvit prepare imagenet"),
        (["data.name=cifar10"], "Did you mean"),
    ],
)
def test_bad_input_fails_before_training_with_a_clear_message(overrides, message, tmp_path, capsys):
    overrides = [o.format(tmp=tmp_path) for o in overrides]
    assert main(["train", "tests/engine/empty.yaml", f"run_dir={tmp_path / 'run'}", *overrides]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pixelvit train: error:") and message in err, err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_prepare_imagenet_then_train_reads_the_cache(tmp_path, capsys):
    fab = make_imagenet_folders(tmp_path, n_train=2, n_val=1)
    assert main(["prepare", "imagenet", "--root", str(tmp_path), "--size", "12", "--workers", "1"]) == 0
    assert "cache ready" in capsys.readouterr().out
    from pixelvit.data import load_arrays

    arrays = load_arrays("imagenet", tmp_path, "val", (12, 12))
    assert arrays.images.shape == (len(fab.classes), 3, 12, 12)
    np.testing.assert_array_equal(arrays.targets, fab.targets["val"])


def test_eval_needs_data_for_a_bare_model_dir(tmp_path, capsys):
    from pixelvit import create_model, save_pretrained

    save_pretrained(create_model("vit_t/2", img_size=8, in_chans=1, num_classes=10, embed_dim=16, depth=1, num_heads=2), tmp_path)
    assert main(["eval", str(tmp_path), "--device", "cpu"]) == 2
    assert "pass --data NAME" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--data", "digits", "--device", "cpu"]) == 0
    assert "acc1:" in capsys.readouterr().out
