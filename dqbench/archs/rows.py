"""Row gathers and scatter-sums whose results do not depend on the thread count, forward and backward.

PyTorch's CPU ``index_put_(accumulate=True)`` (the backward of ``x[index]``) shares the edges out between
threads, so its sums change with the thread count (``scripts/thread_probe.py`` finds such ops). Here every
scatter-sum runs in the compiled ``scatter_rows_f32`` kernel: edges bucketed by destination with a stable
counting sort, each output row summed by one thread in ascending edge order: bit-identical to a one-thread
``index_add_``, at any thread count. Without the compiled kernels (or off float32) the same sums run as a
``index_add_`` on one thread.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from dqbench.kernels import enabled, ptr


@contextmanager
def one_thread():
    """Run the body with one torch thread (then restore): a fixed order for a reduction that has no other."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def scatter_sum(values: torch.Tensor, index: torch.Tensor, num_rows: int,
                init: torch.Tensor | None = None) -> torch.Tensor:
    """``init`` (or zeros) with ``values[e]`` added to row ``index[e]``, in ascending ``e``; no autograd."""
    shape = (num_rows, *values.shape[1:])
    kernel = getattr(enabled(), "scatter_rows_f32", None)
    if kernel is None or values.dtype != torch.float32 or not values.is_cpu or (
            init is not None and init.dtype != torch.float32):
        out = torch.zeros(shape, dtype=values.dtype) if init is None else init.clone()
        with one_thread():
            return out.index_add_(0, index, values)
    values = values.contiguous()
    index = index.to(torch.int64).contiguous()
    init = None if init is None else init.contiguous()
    out = torch.empty(shape, dtype=torch.float32)
    width = math.prod(values.shape[1:])
    kernel(ptr(values), ptr(index), index.numel(), width, ptr(init), num_rows, ptr(out), torch.get_num_threads())
    return out


class _ScatterRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, index, num_rows, init):
        ctx.save_for_backward(index)
        ctx.has_init = init is not None
        return scatter_sum(values.detach(), index, num_rows, None if init is None else init.detach())

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        grad_values = grad.index_select(0, index) if ctx.needs_input_grad[0] else None
        return grad_values, None, None, grad if ctx.has_init and ctx.needs_input_grad[3] else None


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.save_for_backward(index)
        ctx.num_rows = x.size(0)
        return x.index_select(0, index)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        return scatter_sum(grad, index, ctx.num_rows), None


def scatter_rows(values: torch.Tensor, index: torch.Tensor, num_rows: int,
                 init: torch.Tensor | None = None) -> torch.Tensor:
    """``init.index_add(0, index, values)`` (``init`` None: zeros) with a fixed summation order; its backward is
    a gather."""
    return _ScatterRows.apply(values, index, num_rows, init)


def gather_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[index]`` (rows) whose backward sums the gradient rows back with a fixed order (``scatter_sum``)."""
    return _GatherRows.apply(x, index)


def softmax(logits: torch.Tensor, index: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Softmax of ``logits`` over the entries that share an ``index`` (GAT's attention over a node's in-edges),
    in the same float operations as ``torch_geometric.utils.softmax`` (shifted by the group's max, 1e-16 added to
    the sum), with its sums and their backward in a fixed order."""
    from torch_geometric.utils import scatter

    top = scatter(logits.detach(), index, 0, dim_size=num_rows, reduce="max")  # a max: exact in any order
    out = (logits - top.index_select(0, index)).exp()
    total = scatter_rows(out, index, num_rows) + 1e-16
    return out / gather_rows(total, index)
