"""Quant-core tests run single-threaded (see _one_torch_thread)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: OpenMP threads only add spin-wait contention on a shared 2-core machine (50x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
