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
@pytest.mark.parametrize("want_mask", [False, "indices", "mask"])
def test_fused_forward_is_bit_identical_to_torch_ops(monkeypatch, path, shape, nbits, signed, special, with_protect,
                                                     clamp_protected, want_mask):
    # the saturated elements as a list of indices (room for all) or, with no room for them, as the byte mask
    monkeypatch.setattr(FQ, "index_room", (lambda n: n) if want_mask == "indices" else (lambda n: 0))
    gen = torch.Generator().manual_seed(sum(shape) + nbits)
    x = awkward_tensor(gen, shape, special)
    qp = QParams.from_range(-2.0 if signed else 0.0, 2.5, nbits, signed)
    if not special:
        x = torch.round(x / qp.scale * 2) / 2 * qp.scale  # many values exactly half-way between two codes
    protect = torch.rand(shape[0], generator=gen) < 0.3 if with_protect else None
    args = (qp.scale, qp.zero_point, qp.qmin, qp.qmax, bool(want_mask), protect, clamp_protected)
    ref, ref_mask = FQ.fake_quant_ops(x.clone(), *args)
    out, saturated = FQ.fake_quant_fused(path, x, *args)
    assert torch.equal(bits(out), bits(ref))
    if want_mask:
        listed = want_mask == "indices" or not ref_mask.any()  # with no room, a list only when it is empty
        assert saturated.dtype == (torch.int64 if listed else torch.bool)
        assert torch.equal(FQ.saturation_mask(saturated, x), ref_mask)
        assert x.numel() < 10 or (ref_mask.any() and not ref_mask.all())  # both kinds of element were checked
    else:
        assert saturated is None


@needs_kernels
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("threads", [1, 2])
def test_few_saturated_elements_come_as_ascending_indices(path, threads):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5000, 64, generator=gen)  # over several parallel blocks
    qp = QParams.from_range(-3.0, 3.0, 8, True)  # about 0.3% of a normal sample lies beyond 3
    protect = torch.rand(5000, generator=gen) < 0.1
    ref, ref_mask = FQ.fake_quant_ops(x.clone(), qp.scale, qp.zero_point, qp.qmin, qp.qmax, True, protect, True)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out, idx = FQ.fake_quant_fused(path, x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, True, protect, True)
    finally:
        torch.set_num_threads(before)
    assert idx.dtype == torch.int64 and 0 < idx.numel() < FQ.index_room(x.numel())
    assert torch.equal(idx, ref_mask.view(-1).nonzero().squeeze(1))  # ascending, each once
    assert torch.equal(bits(out), bits(ref))


@needs_kernels
@pytest.mark.parametrize("path", PATHS)
def test_many_saturated_elements_come_as_a_mask(path):
    x = torch.linspace(-10, 10, 4096)
    qp = QParams.from_range(-1.0, 1.0, 4, True)  # 90% saturate: more than there is room to list
    ref, ref_mask = FQ.fake_quant_ops(x.clone(), qp.scale, qp.zero_point, qp.qmin, qp.qmax, True, None)
    out, saturated = FQ.fake_quant_fused(path, x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, True, None)
    assert saturated.dtype == torch.bool and torch.equal(saturated, ref_mask)
    assert torch.equal(bits(out), bits(ref))


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


def test_clip_gradient_from_indices_matches_the_mask_and_passes_grad_when_none_saturate():
    gen = torch.Generator().manual_seed(1)
    grad = torch.randn(40, 3, generator=gen)
    grad[0, 0] = float("nan")
    mask = torch.rand(40, 3, generator=gen) < 0.2
    mask[0, 0] = True
    idx = mask.view(-1).nonzero().squeeze(1)
    from_idx = FQ.clip_gradient(idx, grad)
    assert torch.equal(bits(from_idx), bits(FQ.clip_gradient(mask, grad)))
    assert from_idx[0, 0].item() == 0.0 and torch.equal(grad[~mask], from_idx[~mask])
    assert FQ.clip_gradient(idx[:0], grad) is grad
    assert torch.equal(FQ.saturation_mask(idx, grad), mask)


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
    out, saturated = FQ.fake_quant_fused(path, x, *args)
    mask = FQ.saturation_mask(saturated, x)
    assert torch.equal(bits(out), bits(ref)) and torch.equal(mask, ref_mask)
    assert mask.tolist() == [[False, False, True, True, False, False]]
    assert out[0, 5].item() == pytest.approx(0.7)  # inside the range: not rounded to a code


@needs_kernels
@pytest.mark.parametrize("path", PATHS)
def test_a_protect_mask_of_the_wrong_length_is_refused_not_read_past(path):
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match="one element per row"):
        FQ.fake_quant_fused(path, x, 0.1, 0, -8, 7, True, torch.zeros(9, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool mask"):
        FQ.fake_quant_fused(path, x, 0.1, 0, -8, 7, True, torch.zeros(10, dtype=torch.uint8))
