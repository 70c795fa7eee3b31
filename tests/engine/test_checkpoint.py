"""Checkpoint files: atomic, pruned, corrupt ones skipped, code-carrying pickles refused."""

import os
import pickle
import random

import numpy as np
import pytest
import torch

from pixelvit.engine.checkpoint import (
    CheckpointError,
    latest_valid_checkpoint,
    list_checkpoints,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def state(v):
    return {"model": {"w": torch.full((3,), float(v))}, "progress": {"step": v}}


def test_keep_last_k_and_latest(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint(state(step), tmp_path, step, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000003.pt", "step_00000004.pt"]
    assert latest_valid_checkpoint(tmp_path)["progress"]["step"] == 4
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.endswith(".tmp")]


def test_truncated_latest_falls_back_to_previous(tmp_path):
    save_checkpoint(state(1), tmp_path, 1, keep=3)
    path = save_checkpoint(state(2), tmp_path, 2, keep=3)
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.warns(UserWarning, match="truncated or corrupt"):
        resumed = latest_valid_checkpoint(tmp_path)
    assert resumed["progress"]["step"] == 1


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    with pytest.raises(CheckpointError, match="could run code"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned.txt").exists()


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save_checkpoint({"model": {}, "rng": rng_state()}, tmp_path, 1, keep=1)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(load_checkpoint(list_checkpoints(tmp_path)[-1])["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
