"""Checkpoint files: atomic, pruned, corrupt ones skipped, code-carrying pickles refused."""

import os
import pickle
import random
import struct

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
    save_checkpoint(state(2), tmp_path, 2, keep=3).write_bytes(b"")
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
    with pytest.warns(UserWarning, match="skipping unverified checkpoint.*step_00000099.pt"):
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


# ---- the digest is published with the checkpoint; odd files are skipped -----------------------


@pytest.mark.parametrize("overwrite", [False, True], ids=["new step", "same step again"])
def test_a_kill_at_any_moment_of_a_save_leaves_no_checkpoint_without_a_digest_that_verifies_it(tmp_path, monkeypatch, overwrite):
    """Each rename of a save is a moment a SIGKILL can land after; at none of them may the newest
    checkpoint lack its digest (the old code renamed the .pt into place before writing the digest)."""
    from pixelvit.engine.checkpoint import is_verifiable

    real = os.replace
    for renames_done in range(4):
        run = tmp_path / f"kill{renames_done}"
        save_checkpoint(state(1), run, 1, keep=3)

        def replace(src, dst, done=[], allowed=renames_done):  # noqa: B006 (counts this save's renames)
            if len(done) >= allowed:
                raise KeyboardInterrupt("killed")
            done.append(dst)
            real(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(state(7), run, 1 if overwrite else 2, keep=3)
            raise KeyboardInterrupt("the save finished")
        monkeypatch.setattr(os, "replace", real)
        for path in list_checkpoints(run):
            assert is_verifiable(path), f"{path.name} has no digest after a kill after {renames_done} renames"
            assert load_checkpoint(path)["progress"]["step"] in (1, 7)  # it verifies


def test_a_checkpoint_without_its_digest_is_unverified_and_an_older_verified_one_preferred(tmp_path):
    save_checkpoint(state(1), tmp_path, 1, keep=3)
    path = save_checkpoint(state(2), tmp_path, 2, keep=3)
    path.with_suffix(".sha256").unlink()
    data = bytearray(path.read_bytes())
    data[data.index(struct.pack("<3f", 2, 2, 2))] ^= 0x01  # a flipped bit in the weights: torch.load cannot notice
    path.write_bytes(bytes(data))
    assert load_checkpoint(path)["model"]["w"][0] != 2  # loadable: only the digest could have caught it
    warning = r"skipping unverified checkpoint\(s\) step_00000002\.pt .*older verified step_00000001\.pt"
    with pytest.warns(UserWarning, match=warning):
        assert latest_valid_checkpoint(tmp_path)["progress"]["step"] == 1
    for leftover in (tmp_path / "checkpoints").iterdir():
        leftover.unlink()
    save_checkpoint(state(3), tmp_path, 3, keep=3).with_suffix(".sha256").unlink()
    with pytest.warns(UserWarning, match="step_00000003.pt, which has no .sha256 digest"):
        assert latest_valid_checkpoint(tmp_path)["progress"]["step"] == 3  # none verifies: the newest, with a warning


def full_state(v):
    return {**state(v), "optimizer": {}, "rng": [], "config": {}, "model_description": {}}


def odd_digest_garbage(d):
    save_checkpoint(full_state(2), d.parent, 2, keep=3)
    (d / "step_00000002.sha256").write_bytes(bytes(range(256)))


def odd_digest_directory(d):
    save_checkpoint(full_state(2), d.parent, 2, keep=3)
    (d / "step_00000002.sha256").unlink()
    (d / "step_00000002.sha256").mkdir()


def odd_checkpoint_directory(d):
    (d / "step_00000002.pt").mkdir()


def odd_checkpoint_fifo(d):
    os.mkfifo(d / "step_00000002.pt")


def odd_checkpoint_symlink(d):
    (d / "step_00000002.pt").symlink_to(d / "step_00000001.pt")


def odd_checkpoint_without_progress(d):
    save_checkpoint({k: v for k, v in full_state(2).items() if k != "progress"}, d.parent, 2, keep=3)


def odd_checkpoint_with_a_list_for_progress(d):
    save_checkpoint({**full_state(2), "progress": [2]}, d.parent, 2, keep=3)


@pytest.mark.parametrize(
    "plant",
    [odd_digest_garbage, odd_digest_directory, odd_checkpoint_directory, odd_checkpoint_fifo, odd_checkpoint_symlink,
     odd_checkpoint_without_progress, odd_checkpoint_with_a_list_for_progress],
    ids=lambda f: f.__name__,
)  # fmt: skip
def test_one_odd_file_in_checkpoints_is_skipped_and_the_good_older_one_resumes(tmp_path, plant):
    from pixelvit.engine.checkpoint import RESUME_ENTRIES, clean_checkpoint_dir

    save_checkpoint(full_state(1), tmp_path, 1, keep=3)
    plant(tmp_path / "checkpoints")
    clean_checkpoint_dir(tmp_path)
    with pytest.warns(UserWarning, match="step_00000002"):
        assert latest_valid_checkpoint(tmp_path, required=RESUME_ENTRIES)["progress"]["step"] == 1
