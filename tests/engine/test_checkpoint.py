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
    with pytest.warns(UserWarning, match="corrupt"):
        resumed = latest_valid_checkpoint(tmp_path)
    assert resumed["progress"]["step"] == 1


def test_a_flipped_bit_is_caught_by_the_digest_and_the_previous_checkpoint_used(tmp_path):
    save_checkpoint(state(1), tmp_path, 1, keep=3)
    path = save_checkpoint(state(2), tmp_path, 2, keep=3)
    data = bytearray(path.read_bytes())
    data[-200] ^= 0x01  # inside the tensor payload: torch.load alone would not notice
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its SHA-256"):
        load_checkpoint(path)
    with pytest.warns(UserWarning, match="does not match its SHA-256"):
        assert latest_valid_checkpoint(tmp_path)["progress"]["step"] == 1


def test_a_zero_byte_checkpoint_is_skipped_with_a_message(tmp_path):
    save_checkpoint(state(1), tmp_path, 1, keep=3)
    (tmp_path / "checkpoints" / "step_00000002.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_checkpoint(tmp_path / "checkpoints" / "step_00000002.pt")
    with pytest.warns(UserWarning, match="is empty"):
        assert latest_valid_checkpoint(tmp_path)["progress"]["step"] == 1


@pytest.mark.parametrize("keep", [1, 2])
def test_pruning_never_removes_the_checkpoint_just_written(tmp_path, keep):
    """A corrupt or foreign file with a higher step number must not push out the good checkpoint."""
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    (directory / "step_00000099.pt").write_bytes(b"garbage")
    for step in (1, 2, 3):
        written = save_checkpoint(state(step), tmp_path, step, keep=keep)
        assert written.is_file()
    names = [p.name for p in list_checkpoints(tmp_path)]
    kept = ["step_00000002.pt", "step_00000003.pt"][-keep:]
    assert names == [*kept, "step_00000099.pt"]
    with pytest.warns(UserWarning, match="skipping unusable checkpoint"):
        assert latest_valid_checkpoint(tmp_path)["progress"]["step"] == 3


def test_stale_temp_files_and_orphan_digests_are_cleaned(tmp_path):
    from pixelvit.engine.checkpoint import clean_checkpoint_dir

    path = save_checkpoint(state(1), tmp_path, 1, keep=2)
    stale = path.parent / ".step_00000002.pt.abcd1234.tmp"
    stale.write_bytes(b"x" * 100)
    orphan = path.parent / "step_00000005.sha256"
    orphan.write_text("0" * 64)
    clean_checkpoint_dir(tmp_path)
    assert not stale.exists() and not orphan.exists() and path.is_file()
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)  # normal permissions, not mkstemp's 0600


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
