"""The compiled one-pass fake quantization (training) against the PyTorch ops it replaces: identical bits for
values, saturation masks and clipped gradients, on every compiled path this CPU has (the scalar path anywhere)."""

from __future__ import annotations

import pytest
import torch

from dqbench.engine import kernels as K
from dqbench.quant import fake_quant as FQ
from dqbench.quant.qparams import QParams


def paths():
    k = K.kernels()
    if k is None or not hasattr(k, "fake_quant_train"):
        return []
    return ["scalar", *(["vnni"] if k.cpu_has("vnni") else [])]


PATHS = paths()
needs_kernels = pytest.mark.skipif(not PATHS, reason="compiled kernels not built")


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int32)


def awkward_tensor(gen, shape, special: bool):
    x = torch.randn(*shape, generator=gen) * 3
    if special:  # NaN, +-inf, and exact half-way points between codes
        flat = x.view(-1)
        flat[::7] = float("nan")
        flat[1::11] = float("inf")
        flat[2::13] = -float("inf")
    return x


CASES = [((1000, 64), 4, True), ((37,), 8, True), ((5, 3, 8), 2, False), ((1, 1), 4, False), ((200, 1), 3, True),
         ((4097, 17), 8, False)]


@needs_kernels
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape,nbits,signed", CASES)
@pytest.mark.parametrize("special", [False, True])
@pytest.mark.parametrize("with_protect,clamp_protected", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("want_mask", [False, True])
def test_fused_forward_is_bit_identical_to_torch_ops(path, shape, nbits, signed, special, with_protect,
                                                     clamp_protected, want_mask):
    gen = torch.Generator().manual_seed(sum(shape) + nbits)
    x = awkward_tensor(gen, shape, special)
    qp = QParams.from_range(-2.0 if signed else 0.0, 2.5, nbits, signed)
    if not special:
        x = torch.round(x / qp.scale * 2) / 2 * qp.scale  # many values exactly half-way between two codes
    protect = torch.rand(shape[0], generator=gen) < 0.3 if with_protect else None
    args = (qp.scale, qp.zero_point, qp.qmin, qp.qmax, want_mask, protect, clamp_protected)
    ref, ref_mask = FQ.fake_quant_ops(x.clone(), *args)
    out, mask = FQ.fake_quant_fused(path, x, *args)
    assert torch.equal(bits(out), bits(ref))
    if want_mask:
        assert torch.equal(mask, ref_mask)
        assert x.numel() < 10 or (mask.any() and not mask.all())  # both kinds of element were checked
    else:
        assert mask is None


@needs_kernels
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("n", [1, 15, 16, 17, 100003])
def test_zero_where_kernel_matches_torch_where(path, n):
    gen = torch.Generator().manual_seed(n)
    grad = torch.randn(n, generator=gen)
    grad[::5] = float("nan")
    saturated = torch.rand(n, generator=gen) < 0.4
    out = torch.empty_like(grad)
    K.kernels().zero_where(K.ptr(grad), K.ptr(saturated), n, K.ptr(out), path, 1)
    assert torch.equal(bits(out), bits(torch.where(saturated, grad.new_zeros(()), grad)))


def _train_step(x0, protect, backward, clamp_protected=False):
    qp = QParams.from_range(-1.0, 1.0, 4, True)
    x = x0.clone().requires_grad_(True)
    out = FQ.fake_quantize(x * 1.5, qp.scale, qp.zero_point, qp.qmin, qp.qmax, backward, protect, clamp_protected)
    out.backward(torch.arange(out.numel(), dtype=torch.float32).view_as(out))
    return out.detach(), x.grad


@needs_kernels
@pytest.mark.parametrize("backward", ["ste", "clip"])
@pytest.mark.parametrize("clamp_protected", [False, True])
def test_autograd_identical_with_and_without_compiled_kernels(monkeypatch, backward, clamp_protected):
    if FQ.fused_path() is None:
        pytest.skip("this CPU has no AVX-512: training already uses the PyTorch ops")
    gen = torch.Generator().manual_seed(0)
    x0, protect = torch.randn(300, 8, generator=gen), torch.rand(300, generator=gen) < 0.2
    fused = _train_step(x0, protect, backward, clamp_protected)
    monkeypatch.setenv("DQBENCH_ENGINE", "torch")
    assert FQ.fused_path() is None
    ops = _train_step(x0, protect, backward, clamp_protected)
    assert all(torch.equal(bits(a), bits(b)) for a, b in zip(fused, ops))


@needs_kernels
@pytest.mark.parametrize("path", PATHS)
def test_clamped_protected_row_keeps_signed_zero_and_nan_like_torch_clamp(path):
    x = torch.tensor([[-0.0, 0.0, -1.0, 5.0, float("nan"), 0.7]])
    args = (0.1, 0, 0, 15, True, torch.tensor([True]), True)  # unsigned: the range is [0, 1.5]
    ref, ref_mask = FQ.fake_quant_ops(x.clone(), *args)
    out, mask = FQ.fake_quant_fused(path, x, *args)
    assert torch.equal(bits(out), bits(ref)) and torch.equal(mask, ref_mask)
    assert mask.tolist() == [[False, False, True, True, False, False]]
    assert out[0, 5].item() == pytest.approx(0.7)  # inside the range: not rounded to a code
