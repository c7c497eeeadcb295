"""Arch tests run tiny tensors: one intra-op thread avoids OpenMP spinning on a shared, busy machine."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)
