"""GAT attention in fixed point (dqbench.engine.attention): every compiled path returns exactly the PyTorch path's
codes, and those codes are the float64 softmax's own codes except within rounding of a code boundary."""

from __future__ import annotations

import math

import pytest
import torch

from dqbench.engine import kernels as K
from dqbench.engine.attention import W_BITS, GatAttention, attention_codes, exp2_fixed
from dqbench.quant.qparams import QParams

PATHS = K.runnable_backends()


def graph(gen, n, nnz, hub=0):
    """Random edges plus one self loop per node (as GAT adds them), node 0 with ``hub`` extra in-edges."""
    src = torch.cat([torch.randint(0, n, (nnz + hub,), generator=gen), torch.arange(n)])
    dst = torch.cat([torch.randint(0, n, (nnz,), generator=gen), torch.zeros(hub, dtype=torch.long), torch.arange(n)])
    g, _ = K.Csr.from_edges(src, dst, n)
    return g


def setup(heads, channels, seed=0, n=300, nnz=2000, hub=0, att_scale=0.5):
    gen = torch.Generator().manual_seed(seed)
    g = graph(gen, n, nnz, hub)
    x = torch.randint(-128, 128, (n, heads * channels), generator=gen, dtype=torch.int8)
    a_src, a_dst = (torch.randn(1, heads, channels, generator=gen) * att_scale for _ in range(2))
    att = GatAttention.from_vectors(a_src, a_dst, 0.05, 0.2, QParams(1 / 255, 0, 8, False))
    return g, x, att, a_src, a_dst


def float64_codes(g, x, x_zp, a_src, a_dst, qp):
    """The textbook softmax in float64 on the dequantized features, quantized."""
    n, H = g.rows, a_src.size(1)
    h = ((x.double() - x_zp) * 0.05).view(n, H, -1)
    src, dst = g.indices.long(), g.row_of
    logits = torch.nn.functional.leaky_relu((h * a_src.double()).sum(-1)[src] + (h * a_dst.double()).sum(-1)[dst],
                                            0.2)
    e = (logits - torch.full((n, H), -math.inf, dtype=torch.float64).scatter_reduce(
        0, dst[:, None].expand(-1, H), logits, "amax")[dst]).exp()
    alpha = e / torch.zeros(n, H, dtype=torch.float64).index_add_(0, dst, e)[dst]
    return alpha, K.quantize_torch(alpha, qp) - qp.zero_point


@pytest.mark.parametrize("heads,channels", [(1, 7), (3, 5), (8, 16), (12, 4), (16, 2)])
def test_paths_identical_and_close_to_float64(heads, channels):
    g, x, att, a_src, a_dst = setup(heads, channels, hub=3000)
    ref = attention_codes("torch", g, x, 3, att)
    assert ref.shape == (g.indices.numel(), heads) and ref.dtype == torch.uint8
    for path in PATHS[1:]:
        assert torch.equal(attention_codes(path, g, x, 3, att, threads=2), ref), path
    alpha, want = float64_codes(g, x, 3, a_src, a_dst, att.qp)
    diff = (ref.long() - want.long()).abs()
    assert diff.max() <= 1
    # where they differ, the float64 coefficient lies within 1e-6 code steps of a rounding boundary
    frac = (alpha[diff > 0] / att.qp.scale) % 1.0
    assert ((frac - 0.5).abs() < 1e-6).all()
    # each row's coefficients sum to one, to within a code per entry
    sums = torch.zeros(g.rows, heads, dtype=torch.float64).index_add_(0, g.row_of, ref.double() * att.qp.scale)
    deg = torch.bincount(g.row_of, minlength=g.rows).double()
    assert ((sums - 1).abs() <= deg[:, None] * att.qp.scale).all()


def test_torch_path_slices_do_not_change_codes(monkeypatch):
    """The PyTorch path works in slices of edges; slices that cut rows (and a last short one) give the same codes."""
    from dqbench.engine import attention

    g, x, att, _, _ = setup(4, 8, seed=2, hub=500)
    whole = attention_codes("torch", g, x, 3, att)
    assert g.indices.numel() < attention._SLICE
    monkeypatch.setattr(attention, "_SLICE", 97)
    assert torch.equal(attention_codes("torch", g, x, 3, att), whole)


def test_large_logits():
    """Logits so spread that most numerators underflow to zero."""
    g, x, att, _, _ = setup(4, 8, seed=1, att_scale=40.0)
    ref = attention_codes("torch", g, x, -5, att)
    assert (ref == 0).float().mean() > 0.5
    for path in PATHS[1:]:
        assert torch.equal(attention_codes(path, g, x, -5, att, threads=1), ref), path


def test_exp2_fixed_accuracy():
    y = torch.cat([torch.linspace(0, 40, 100_001, dtype=torch.float64), torch.tensor([0.0, 1.0, 32.0, 32.999, 33.0])])
    w = exp2_fixed(y)
    want = torch.round(torch.exp2(-y) * 2.0**W_BITS)
    live = y < W_BITS + 1
    assert (w[~live] == 0).all()
    assert ((w[live] - want[live]).abs() <= 1).all()
    assert w[y == 0].unique().tolist() == [2**W_BITS]


def test_zero_attention_vectors():
    g, x, _, _, _ = setup(2, 4)
    zero = torch.zeros(1, 2, 4)
    att = GatAttention.from_vectors(zero, zero, 0.05, 0.2, QParams(1 / 255, 0, 8, False))
    deg = torch.bincount(g.row_of, minlength=g.rows)
    for path in PATHS:  # uniform attention: every coefficient 1 / in-degree
        codes = attention_codes(path, g, x, 0, att)
        assert torch.equal(codes, torch.round(255.0 / deg[g.row_of].double())[:, None].expand(-1, 2).to(torch.uint8))
