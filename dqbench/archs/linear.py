"""A linear layer whose weight gradient does not depend on the thread count.

The weight gradient ``grad^T @ x`` sums over the rows (nodes or graphs); for a small output (a 7 x 64 last
layer on Cora) MKL shares that sum out between threads, so it changes with the thread count
(``scripts/thread_probe.py``). Here it runs on one thread, as the same ``mm`` autograd would call: bit-identical to
a one-thread run. The forward and the input gradient (split by rows) are PyTorch's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dqbench.archs.rows import one_thread


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad.mm(weight) if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            with one_thread():
                grad_w = grad.t().mm(x)
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` of a 2-D input with the same values and gradients as one thread gives, at any thread count."""
    if x.dim() != 2 or not torch.is_grad_enabled():
        return F.linear(x, weight, bias)
    return _Linear.apply(x, weight, bias)
