"""Nothing executes code from a file a user hands pixelvit: a pickle that would run a command on load is
refused, with a clear error, by every loader that reads user files."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from pixelvit.commands import main

PWNED = "pwned.txt"


class Evil:
    def __reduce__(self):
        return (os.system, (f"echo pwned > {PWNED}",))


def evil_file(path: Path, payload=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(payload if payload is not None else {"model": Evil(), "state_dict": Evil()}, f)
    return path


def load_checkpoint_file(tmp_path):
    from pixelvit.engine.checkpoint import load_checkpoint

    load_checkpoint(evil_file(tmp_path / "step_00000001.pt"))


def resume_from_run_dir(tmp_path):
    from pixelvit.engine.checkpoint import latest_valid_checkpoint

    evil_file(tmp_path / "run" / "checkpoints" / "step_00000001.pt")
    with pytest.warns(UserWarning, match="could run code"):
        assert latest_valid_checkpoint(tmp_path / "run") is None
    raise ValueError("skipped")  # the loader refused it (and says so in a warning)


def init_from_file(tmp_path):
    from pixelvit.engine.init_from import init_encoder_from
    from pixelvit.models import create_model

    init_encoder_from(create_model("vit_t/2", img_size=8, embed_dim=16, depth=1, num_heads=2), evil_file(tmp_path / "mae.pth"))


def dit_reference_checkpoint(tmp_path):
    from pixelvit.models.dit import load_reference_checkpoint

    load_reference_checkpoint(evil_file(tmp_path / "DiT-XL-2-256x256.pt"))


def inception_logits(tmp_path):
    from pixelvit.metrics.features import _load_logits_weight

    _load_logits_weight(evil_file(tmp_path / "pt_inception.pth"))


def cifar_pickle(tmp_path):
    from pixelvit.data.safepickle import load_restricted

    load_restricted(evil_file(tmp_path / "cifar-100-python" / "train", {"data": Evil()}))


def latent_labels(tmp_path):
    np.save(tmp_path / "lat.npy", np.zeros((2, 4, 2, 2), np.float32))
    np.save(tmp_path / "lat.labels.npy", np.array([Evil(), Evil()], dtype=object), allow_pickle=True)
    (tmp_path / "lat.json").write_text('{"num_classes": 2, "scale": 0.18215, "flip": false}')
    from pixelvit.data.latents import LatentDataset

    LatentDataset(tmp_path / "lat.npy")


def eval_command_on_a_pickled_checkpoint(tmp_path):
    code = main(["eval", str(evil_file(tmp_path / "step_00000001.pt")), "--device", "cpu"])
    assert code == 2
    raise ValueError("refused by the command with exit code 2")


LOADERS = [load_checkpoint_file, resume_from_run_dir, init_from_file, dit_reference_checkpoint, inception_logits,
           cifar_pickle, latent_labels, eval_command_on_a_pickled_checkpoint]  # fmt: skip


@pytest.mark.parametrize("loader", LOADERS, ids=lambda f: f.__name__)
def test_a_code_carrying_pickle_is_refused_and_runs_nothing(loader, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ValueError, RuntimeError, pickle.UnpicklingError)):
        loader(tmp_path)
    assert not (tmp_path / PWNED).exists()
