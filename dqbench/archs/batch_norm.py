"""BatchNorm1d whose training-mode statistics and gradients do not depend on the thread count.

PyTorch's CPU batch norm reduces each channel over the rows in per-thread partial sums, so its statistics and
gradients change with the thread count (``scripts/thread_probe.py``). Here the training-mode forward and
backward run the same ATen kernels on one thread: the rows are summed in their order, bit-identical to a
one-thread run. Batch norm is a small part of a step (a pass over an N x 64 tensor); eval mode (a per-channel
affine map, no reduction) is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from dqbench.archs.rows import one_thread


class _SerialBatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        with one_thread():
            out, mean, invstd = torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var, True,
                                                                 momentum, eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved_tensors
        wanted = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
        with one_thread():
            gx, gw, gb = torch.ops.aten.native_batch_norm_backward(grad, x, weight, None, None, mean, invstd, True,
                                                                   ctx.eps, wanted)
        return gx, gw, gb, None, None, None, None


class BatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` (same parameters, buffers and state dict) with a fixed reduction order in training."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.track_running_stats or x.dim() != 2:
            return super().forward(x)
        if x.size(0) < 2:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(x.shape)}")
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        return _SerialBatchNorm.apply(x, self.weight, self.bias, self.running_mean, self.running_var, momentum,
                                      self.eps)
