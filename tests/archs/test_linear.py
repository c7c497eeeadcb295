"""The fixed-order linear: F.linear's values and gradients at one thread, at any thread count."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dqbench.archs.linear import linear


def grads(fn, threads, x, w, b, up):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x, w, b = (t.detach().clone().requires_grad_() for t in (x, w, b))
        out = fn(x, w, b)
        (out * up).sum().backward()
        return [out.detach(), x.grad, w.grad, b.grad]
    finally:
        torch.set_num_threads(before)


def test_equals_f_linear_at_one_thread_at_any_thread_count():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(2708, 64, generator=g), torch.randn(7, 64, generator=g), torch.randn(7, generator=g)
    up = torch.randn(2708, 7, generator=g)
    want = grads(F.linear, 1, x, w, b, up)
    for threads in (1, 2, 3):
        got = grads(linear, threads, x, w, b, up)
        assert all(torch.equal(a, c) for a, c in zip(got, want, strict=True))


def test_no_grad_and_other_shapes_are_f_linear():
    x, w = torch.randn(2, 3, 4), torch.randn(5, 4)
    assert torch.equal(linear(x, w), F.linear(x, w))
    with torch.no_grad():
        assert torch.equal(linear(x[0], w), F.linear(x[0], w))
