"""Kernel-level checks on raw tensors: every compiled path (vnni / avx2 / scalar, where this CPU has it) returns
exactly the integers of the pure-PyTorch path, and the PyTorch path matches a naive int64 reference."""

from __future__ import annotations

import pytest
import torch

from dqbench.engine import kernels as K
from dqbench.quant.qparams import QParams

PATHS = K.runnable_backends()


def random_csr(gen, rows, cols, nnz, heads=0, hub=None):
    src = torch.randint(0, cols, (nnz,), generator=gen)
    dst = torch.randint(0, rows, (nnz,), generator=gen)
    if hub is not None:
        src = torch.cat([src, torch.randint(0, cols, (hub,), generator=gen)])
        dst = torch.cat([dst, torch.zeros(hub, dtype=torch.long)])
    g, perm = K.Csr.from_edges(src, dst, rows)
    w = None
    if heads:
        w = torch.randint(0, 256, (src.numel(), heads), generator=gen, dtype=torch.int32)
    return g.with_weights(None if w is None else w[perm], max(heads, 1)), src, dst, w


def req(gen, F, *, steps=0, lut=False, out_float=False, relu=False, beta=True, self_qp=None, bits=8):
    r = K.Requant(alpha=torch.rand(F, generator=gen) * 1e-2 + 1e-4, qp=QParams(0.05, 3, bits, True),
                  beta=torch.randn(F, generator=gen) if beta else None, relu=relu, self_qp=self_qp)
    for s in range(steps):
        last = r.last_qp()
        r.steps.append(K.Step(zp=last.zero_point, scale=last.scale, qp=QParams(0.07 + s * 0.01, -2, bits, True),
                              bias=torch.randn(F, generator=gen), relu=bool(s % 2)))
    if lut:
        r.lut = K.padded_lut(torch.randint(-128, 128, (F, 256), generator=gen))
    if out_float:
        r.out_float = r.last_qp()
    return r


def naive_spmm(x, x_zp, src, dst, w, rows, heads):
    F = x.size(1)
    acc = torch.zeros(rows, F, dtype=torch.int64)
    msg = x[src].long() - x_zp
    if w is not None:
        msg = (msg.view(-1, heads, F // heads) * w.long().unsqueeze(-1)).view(-1, F)
    return acc.index_add_(0, dst, msg)


@pytest.mark.parametrize("F", [1, 13, 40, 48, 64, 128, 200, 300])
@pytest.mark.parametrize("heads", [0, 1, 4, 8, 16])
def test_spmm_paths_agree(F, heads):
    if heads > 1 and F % heads:
        pytest.skip("heads must divide F")
    gen = torch.Generator().manual_seed(F * 7 + heads)
    rows = 57
    g, src, dst, w = random_csr(gen, rows, 40, 400, heads=heads, hub=3000)
    x = torch.randint(-128, 128, (40, F), generator=gen, dtype=torch.int8)
    r = req(gen, F, steps=2, relu=True)
    acc = naive_spmm(x, -5, src, dst, None if w is None else w, rows, max(heads, 1))
    ref = K.epilogue_torch(acc.to(torch.int32), r)
    for path in PATHS:
        out = K.spmm(path, g, x, -5, r, threads=2)
        assert torch.equal(out, ref), path


def test_spmm_empty_rows_and_no_edges():
    gen = torch.Generator().manual_seed(1)
    g, perm = K.Csr.from_edges(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 9)
    x = torch.randint(-128, 128, (9, 32), generator=gen, dtype=torch.int8)
    r = req(gen, 32)
    ref = K.epilogue_torch(torch.zeros(9, 32, dtype=torch.int32), r)
    for path in PATHS:
        assert torch.equal(K.spmm(path, g.with_weights(torch.zeros(0, dtype=torch.uint8)), x, 7, r), ref), path
        assert torch.equal(K.spmm(path, g, x, 7, r), ref), path


@pytest.mark.parametrize("opts", [dict(), dict(steps=3, relu=True), dict(lut=True), dict(out_float=True, steps=1),
                                  dict(bits=4, steps=1), dict(beta=False, relu=True)])
def test_epilogue_options_agree(opts):
    gen = torch.Generator().manual_seed(3)
    F = 77
    g, src, dst, w = random_csr(gen, 30, 30, 300, heads=1)
    x = torch.randint(-8, 8, (30, F), generator=gen, dtype=torch.int8)
    qp_self = QParams(0.03, -1, 8, True)
    self_codes = torch.randint(-128, 128, (30, F), generator=gen, dtype=torch.int8)
    row_div = torch.rand(30, generator=gen) * 5 + 1
    r = req(gen, F, self_qp=qp_self, **opts)
    outs = [K.spmm(p, g, x, 2, r, self_codes=self_codes, row_div=row_div) for p in PATHS]
    for p, o in zip(PATHS, outs):
        assert torch.equal(o, outs[0]), p
    if opts.get("bits") == 4:
        assert outs[0].min() >= -8 and outs[0].max() <= 7


@pytest.mark.parametrize("N,Kd,F", [(1, 1, 1), (7, 5, 3), (50, 128, 128), (33, 100, 70), (13, 256, 130),
                                    (9, 64, 40), (11, 32, 20), (8, 48, 100)])
@pytest.mark.parametrize("zps", [(0, 0), (-128, 5), (17, -3)])
def test_gemm_paths_agree(N, Kd, F, zps):
    gen = torch.Generator().manual_seed(N + Kd + F)
    x_zp, w_zp = zps
    x = torch.randint(-128, 128, (N, Kd), generator=gen, dtype=torch.int8)
    W = torch.randint(-128, 128, (F, Kd), generator=gen, dtype=torch.int8)
    r = req(gen, F, relu=True, steps=1)
    acc = ((x.long() - x_zp) @ (W.long() - w_zp).t()).to(torch.int32)
    ref = K.epilogue_torch(acc, r)
    for path in PATHS:
        w = K.PackedWeight(W, w_zp, x_zp, path)
        assert torch.equal(K.gemm(path, x, w, r, threads=2), ref), path


def test_gemm_non_contiguous_rows():
    gen = torch.Generator().manual_seed(5)
    big = torch.randint(-128, 128, (20, 40), generator=gen, dtype=torch.int8)
    x = big[:, :32]
    W = torch.randint(-128, 128, (16, 32), generator=gen, dtype=torch.int8)
    r = req(gen, 16)
    ref = K.gemm("torch", x, K.PackedWeight(W, 1, 2, "torch"), r)
    for path in PATHS:
        assert torch.equal(K.gemm(path, x, K.PackedWeight(W, 1, 2, path), r), ref), path


def test_quantize_and_lut_agree():
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(31, 45, generator=gen) * 4
    x[0, :5] = torch.tensor([0.5, 1.5, -0.5, -2.5, 1e30])  # ties (half to even) and saturation
    for qp in (QParams(1.0, 0, 8, True), QParams(0.03, -7, 8, True), QParams(0.5, 0, 4, True)):
        ref = torch.clamp(torch.round(x / qp.scale) + qp.zero_point, qp.qmin, qp.qmax).to(torch.int8)
        for path in PATHS:
            assert torch.equal(K.quantize(path, x, qp), ref), path
    table = torch.randint(-128, 128, (256,), generator=gen, dtype=torch.int8)
    codes = torch.randint(-128, 128, (1000, 3), generator=gen, dtype=torch.int8)
    ref = table[(codes.long() + 256) % 256]
    for path in PATHS:
        assert torch.equal(K.lut8(path, codes, table), ref), path


def test_backend_resolution(monkeypatch):
    monkeypatch.setenv("DQBENCH_ENGINE", "torch")
    assert K.resolve_backend("auto") == "torch"
    assert K.resolve_backend("scalar") == "torch"
    monkeypatch.delenv("DQBENCH_ENGINE")
    from dqbench.errors import DQBenchError

    with pytest.raises(DQBenchError, match="unknown engine backend"):
        K.resolve_backend("cuda")
    if K.kernels() is not None:
        assert K.resolve_backend("auto") in K.COMPILED_PATHS


def test_runnable_backends_and_head_limit():
    runnable = K.runnable_backends()
    assert runnable[0] == "torch" and set(runnable) <= set(K.BACKENDS)
    k = K.kernels()
    if k is None:
        pytest.skip("no compiled kernels")
    assert "scalar" in runnable and k.MAX_HEADS == K.MAX_HEADS  # the Python lowering checks the kernels' limit
