"""Fixed-order gathers and scatter-sums: the values and gradients of the PyTorch ops they replace (one thread),
the same at every thread count, and the same through the compiled kernel and the PyTorch fallback."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.utils import scatter
from torch_geometric.utils import softmax as pyg_softmax

from dqbench.archs.base import pool_rows
from dqbench.archs.rows import gather_rows, one_thread, scatter_rows, scatter_sum, softmax

N, E, F = 3000, 40000, 32  # large enough that PyTorch's own index_put_ splits the edges between threads


@pytest.fixture
def graph():
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, N, (E,), generator=g), torch.randint(0, N, (E,), generator=g),
            torch.randn(N, F, generator=g), torch.rand(E, generator=g), torch.randn(N, F, generator=g))


def run(fn, leaves, upstream, threads):
    """fn's output and the gradients of ``leaves`` for loss sum(out * upstream), at ``threads`` threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        leaves = [t.detach().clone().requires_grad_() for t in leaves]
        out = fn(*leaves)
        (out * upstream).sum().backward()
        return [out.detach(), *(t.grad for t in leaves)]
    finally:
        torch.set_num_threads(before)


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def gcn_old(src, dst):
    return lambda h, w: torch.zeros(N, F).index_add_(0, dst, h[src] * w.unsqueeze(-1))


def gcn_new(src, dst):
    return lambda h, w: scatter_rows(gather_rows(h, src) * w.unsqueeze(-1), dst, N)


def test_aggregation_equals_one_thread_index_ops_at_any_thread_count(graph):
    src, dst, h, w, up = graph
    want = run(gcn_old(src, dst), [h, w], up, 1)
    for threads in (1, 2, 3):
        assert same(run(gcn_new(src, dst), [h, w], up, threads), want)


def test_with_init_equals_index_add_on_it(graph):
    src, dst, h, _, up = graph
    old = run(lambda x: (1.5 * x).index_add(0, dst, x[src]), [h], up, 1)
    assert same(run(lambda x: scatter_rows(gather_rows(x, src), dst, N, init=1.5 * x), [h], up, 2), old)


def test_fallback_equals_compiled(graph, monkeypatch):
    src, dst, h, w, up = graph
    compiled = run(gcn_new(src, dst), [h, w], up, 2)
    monkeypatch.setenv("DQBENCH_ENGINE", "torch")
    assert same(run(gcn_new(src, dst), [h, w], up, 2), compiled)


def test_scatter_sum_checks_indices_and_keeps_shape():
    values = torch.ones(4, 2, 3)
    out = scatter_sum(values, torch.tensor([0, 2, 2, 0]), 3)
    assert out.shape == (3, 2, 3) and out[1].abs().sum() == 0 and torch.equal(out[0], torch.full((2, 3), 2.0))
    with pytest.raises((IndexError, RuntimeError)):
        scatter_sum(values, torch.tensor([0, 3, 1, 0]), 3)
    assert torch.equal(scatter_sum(values[:0], torch.tensor([], dtype=torch.long), 2), torch.zeros(2, 2, 3))


def test_softmax_equals_pyg(graph):
    src, dst, *_ = graph
    g = torch.Generator().manual_seed(1)
    logits, up = torch.randn(E, 4, generator=g), torch.randn(E, 4, generator=g)
    want = run(lambda x: pyg_softmax(x, dst, num_nodes=N), [logits], up, 1)
    assert same(run(lambda x: softmax(x, dst, N), [logits], up, 2), want)


@pytest.mark.parametrize("pool", ["sum", "mean"])
def test_pool_equals_pyg_scatter(graph, pool):
    *_, h, _, up = graph
    batch = torch.sort(torch.randint(0, 50, (N,), generator=torch.Generator().manual_seed(2))).values
    up = up[:50]
    want = run(lambda x: scatter(x, batch, 0, dim_size=50, reduce=pool), [h], up, 1)
    assert same(run(lambda x: pool_rows(x, batch, 50, pool), [h], up, 2), want)


def test_one_thread_restores_the_count():
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
