"""One intra-op thread for these tiny models: on a shared 2-core machine, 2 threads per process
oversubscribe the cores and make small ops several times slower."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
