"""The command layer's error boundary: a user's mistake or a failing environment is one or two lines on
stderr and a non-zero exit code, never a traceback (unless --debug / PIXELVIT_DEBUG=1)."""

import errno
import pickle
from pathlib import Path

import pytest
import torch

from pixelvit.commands import main
from pixelvit.commands.errors import INTERRUPTED, RUN_FAILED, USAGE_ERROR, explain
from pixelvit.engine.trainer import NonFiniteLossError
from pixelvit.models import create_model, save_pretrained


@pytest.mark.parametrize(
    "error,code,words",
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), RUN_FAILED, "lower train.batch_size"),
        (MemoryError(), RUN_FAILED, "model.grad_checkpointing=true"),
        (OSError(errno.ENOSPC, "No space left on device"), RUN_FAILED, "free some space"),
        (NonFiniteLossError("non-finite gradient norm (nan) at step 7"), RUN_FAILED, "at step 7"),
        (pickle.UnpicklingError(""), USAGE_ERROR, "refusing to unpickle"),
        (PermissionError(13, "Permission denied", "/x"), USAGE_ERROR, "choose a folder you can write"),
        (KeyboardInterrupt(), INTERRUPTED, "interrupted"),
        (TypeError("unsupported operand"), RUN_FAILED, "likely a bug in pixelvit"),
    ],
)
def test_each_kind_of_error_gets_a_message_and_an_exit_code(error, code, words):
    message, got = explain(error)
    assert got == code and words.lower() in message.lower()
    assert "Traceback" not in message and len(message.splitlines()) <= 2


def broken_model_dir(tmp_path):
    """A model directory whose model.safetensors is really a pickle."""
    directory = save_pretrained(create_model("vit_t/2", img_size=8, in_chans=1, num_classes=10, embed_dim=16, depth=1,
                                             num_heads=2), tmp_path / "model")  # fmt: skip
    (directory / "model.safetensors").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    return directory


def test_a_corrupt_model_file_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    directory = broken_model_dir(tmp_path)
    assert main(["eval", str(directory), "--data", "digits", "--device", "cpu"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith("pixelvit eval: error:") and "safetensors" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2
    monkeypatch.setenv("PIXELVIT_DEBUG", "1")
    assert main(["eval", str(directory), "--data", "digits", "--device", "cpu"]) == USAGE_ERROR
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.delenv("PIXELVIT_DEBUG")
    assert main(["--debug", "eval", str(directory), "--data", "digits", "--device", "cpu"]) == USAGE_ERROR
    assert "Traceback" in capsys.readouterr().err


def test_a_full_disk_and_ctrl_c_end_with_a_line(tmp_path, capsys, monkeypatch):
    from pixelvit.commands import models

    def disk_full(args):
        raise OSError(errno.ENOSPC, "No space left on device")

    def ctrl_c(args):
        raise KeyboardInterrupt

    for func, code in ((disk_full, RUN_FAILED), (ctrl_c, INTERRUPTED)):
        monkeypatch.setattr(models, "cmd_models", func)
        assert main(["models"]) == code
        err = capsys.readouterr().err
        assert err.startswith("pixelvit models: error:") and "Traceback" not in err


@pytest.mark.parametrize(
    "override,key",
    [("optim.lr=!!timestamp x", "optim.lr"), ("train.seed=1e20", "train.seed"), ("optim.lr=inf", "optim.lr"),
     ("model.mlp_ratio=0", "model.mlp_ratio"), ("augment.randaugment_ops=1000", "augment.randaugment_ops"),
     ("augment.crop_padding=-5", "augment.crop_padding"), ("model.embed_dim=1e12", "model.embed_dim"),
     ("model.token_keep=0.001", "model.token_keep"), ("optim.min_lr=1", "optim.min_lr")],
)  # fmt: skip
def test_values_that_were_accepted_are_refused_by_key(override, key, capsys, tmp_path):
    empty = Path(__file__).parents[1] / "engine" / "empty.yaml"
    assert main(["train", str(empty), "optim.lr=1e-3", override, f"run_dir={tmp_path}"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err and not (tmp_path / "config.yaml").exists()


def malformed_model_dirs(tmp_path):
    """Model directories a user might hand to eval: every one must end in a one-line error."""
    good = save_pretrained(create_model("vit_t/2", img_size=8, in_chans=1, num_classes=10, embed_dim=16, depth=1,
                                        num_heads=2), tmp_path / "good")  # fmt: skip
    config = (good / "config.json").read_text()
    weights = (good / "model.safetensors").read_bytes()
    cases = {
        "not_json": ("{not json", weights),
        "a_list": ("[1, 2]", weights),
        "no_config": ('{"architecture": "vit"}', weights),
        "config_not_a_dict": ('{"architecture": "vit", "config": 3}', weights),
        "unknown_architecture": (config.replace('"vit"', '"resnet"'), weights),
        "unknown_argument": (config.replace('"depth": 1', '"depth": 1, "wings": 2'), weights),
        "string_depth": (config.replace('"depth": 1', '"depth": "one"'), weights),
        "huge_width": (config.replace('"embed_dim": 16', '"embed_dim": 1000000000000'), weights),
        "negative_heads": (config.replace('"num_heads": 2', '"num_heads": -2'), weights),
        "bad_img_size": (config.replace('"img_size": [\n      8,\n      8\n    ]', '"img_size": "big"'), weights),
        "wider_than_weights": (config.replace('"embed_dim": 16', '"embed_dim": 32'), weights),
        "empty_weights": (config, b""),
        "pickled_weights": (config, pickle.dumps({"w": 1})),
        "truncated_weights": (config, weights[: len(weights) // 2]),
    }
    for name, (text, blob) in cases.items():
        assert name in ("empty_weights", "pickled_weights", "truncated_weights") or text != config, name  # really altered
        directory = tmp_path / name
        directory.mkdir()
        (directory / "config.json").write_text(text)
        (directory / "model.safetensors").write_bytes(blob)
    return cases


def test_malformed_model_directories_end_in_one_line(tmp_path, capsys):
    for name in malformed_model_dirs(tmp_path):
        code = main(["eval", str(tmp_path / name), "--data", "digits", "--device", "cpu"])
        err = capsys.readouterr().err
        assert code == USAGE_ERROR, (name, err)
        assert "Traceback" not in err and "likely a bug" not in err and len(err.strip().splitlines()) <= 2, (name, err)
