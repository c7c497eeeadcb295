"""BatchNorm1d in training mode: nn.BatchNorm1d's values, gradients and running statistics (one thread), the same
at every thread count; eval mode and the state dict unchanged."""

from __future__ import annotations

import torch
from torch import nn

from dqbench.archs.batch_norm import BatchNorm1d


def step(cls, threads, x, up, momentum=0.1):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        bn = cls(16, momentum=momentum)
        x = x.clone().requires_grad_()
        out = bn(x)
        (out * up).sum().backward()
        return [out.detach(), x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var,
                bn.num_batches_tracked]
    finally:
        torch.set_num_threads(before)


def test_training_step_equals_torch_one_thread_at_any_thread_count():
    g = torch.Generator().manual_seed(0)
    x, up = torch.randn(40000, 16, generator=g) * 3 + 1, torch.randn(40000, 16, generator=g)
    for momentum in (0.1, None):
        want = step(nn.BatchNorm1d, 1, x, up, momentum)
        for threads in (1, 2):
            got = step(BatchNorm1d, threads, x, up, momentum)
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))


def test_eval_and_state_dict_unchanged():
    torch.manual_seed(0)
    ours, theirs = BatchNorm1d(8), nn.BatchNorm1d(8)
    ours.running_mean.uniform_(-1, 1)
    theirs.load_state_dict(ours.state_dict())
    ours.eval(), theirs.eval()
    x = torch.randn(5, 8)
    assert torch.equal(ours(x), theirs(x)) and ours.state_dict().keys() == theirs.state_dict().keys()
