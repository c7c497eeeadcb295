import pytest
import torch

from dqbench.quant.fake_quant import dequantize, fake_quantize, quantize
from dqbench.quant.qparams import QParams


def _fq(x, qp, backward="ste"):
    return fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, backward)


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("signed", [True, False])
def test_forward_matches_formula_and_stays_on_grid(bits, signed):
    torch.manual_seed(bits)
    x = torch.randn(500) * 2 + (0 if signed else 1)
    qp = QParams.from_range(float(x.min()) * 0.8, float(x.max()) * 0.8, bits, signed)
    out = _fq(x, qp)
    codes = torch.clamp(torch.round(x / qp.scale) + qp.zero_point, qp.qmin, qp.qmax)
    assert torch.equal(out, (codes - qp.zero_point) * qp.scale)
    assert torch.equal(out, dequantize(quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax), qp.scale,
                                       qp.zero_point))
    assert len(torch.unique(out)) <= 2**bits
    # idempotent: quantized values are fixed points
    assert torch.equal(_fq(out, qp), out)


def test_round_trip_error_at_most_half_step_inside_range():
    qp = QParams.from_range(-1.0, 1.0, 8, True)
    x = torch.linspace(-0.99, 0.99, 1001)
    assert (_fq(x, qp) - x).abs().max() <= qp.scale / 2 + 1e-7


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("signed", [True, False])
def test_zero_is_exactly_representable(bits, signed):
    qp = QParams.from_range(-0.37 if signed else 0.0, 1.91, bits, signed)
    assert _fq(torch.zeros(3), qp).eq(0).all()


def test_clamps_to_range():
    qp = QParams.from_range(-1.0, 1.0, 4, True)
    out = _fq(torch.tensor([-100.0, 100.0]), qp)
    assert out[0] == (qp.qmin - qp.zero_point) * qp.scale
    assert out[1] == (qp.qmax - qp.zero_point) * qp.scale


def test_round_half_to_even():
    qp = QParams(scale=1.0, zero_point=0, bits=8, signed=True)
    assert _fq(torch.tensor([0.5, 1.5, 2.5, -0.5]), qp).tolist() == [0.0, 2.0, 2.0, -0.0]


def test_ste_backward_passes_every_gradient():
    qp = QParams.from_range(-1.0, 1.0, 4, True)
    x = torch.tensor([-5.0, -0.3, 0.0, 0.4, 5.0], requires_grad=True)
    g = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    _fq(x, qp, "ste").backward(g)
    assert torch.equal(x.grad, g)


def test_clip_backward_zeroes_saturated_gradients():
    qp = QParams.from_range(-1.0, 1.0, 4, True)
    hi = (qp.qmax - qp.zero_point) * qp.scale
    x = torch.tensor([-5.0, -0.3, 0.0, hi, hi + qp.scale, 5.0], requires_grad=True)
    g = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    _fq(x, qp, "clip").backward(g)
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 0.0, 0.0]


def test_backward_gradient_flows_through_graph():
    qp = QParams.from_range(-2.0, 2.0, 8, True)
    w = torch.tensor([0.5, -3.0], requires_grad=True)
    (_fq(w * 2, qp, "clip").sum()).backward()
    assert w.grad.tolist() == [2.0, 0.0]


@pytest.mark.parametrize("backward", ["ste", "clip"])
def test_protected_rows_keep_value_and_identity_gradient(backward):
    qp = QParams.from_range(-1.0, 1.0, 2, True)
    x = torch.tensor([[0.3, 9.0], [0.3, 9.0], [-0.2, -7.0]], requires_grad=True)
    protect = torch.tensor([False, True, False])
    out = fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, backward, protect)
    assert torch.equal(out[1], x[1].detach())
    assert torch.equal(out[[0, 2]], _fq(x[[0, 2]].detach(), qp))
    out.backward(torch.ones_like(x))
    expected = [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]] if backward == "ste" else [[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]]
    assert x.grad.tolist() == expected


@pytest.mark.parametrize("backward", ["ste", "clip"])
def test_clamp_protected_clamps_protected_rows_without_rounding(backward):
    qp = QParams.from_range(-1.0, 1.0, 2, True)
    hi = (qp.qmax - qp.zero_point) * qp.scale
    x = torch.tensor([[0.3, 9.0], [0.37, 9.0], [-0.2, -7.0]], requires_grad=True)
    protect = torch.tensor([False, True, False])
    out = fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, backward, protect, clamp_protected=True)
    assert out[1].tolist() == pytest.approx([0.37, hi])  # clamped, not rounded
    assert torch.equal(out[[0, 2]], _fq(x[[0, 2]].detach(), qp))
    out.backward(torch.ones_like(x))
    expected = [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]] if backward == "ste" else [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    assert x.grad.tolist() == expected  # a clamped protected value is saturated like any other
