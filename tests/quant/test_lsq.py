"""LSQ's quantizer math and gradients against the paper's formulas (Esser et al., ICLR 2020, eq. 1-5)."""

from __future__ import annotations

import math

import pytest
import torch

from dqbench.quant.lsq import LsqQuantize, lsq


@pytest.mark.parametrize("bits, signed", [(8, True), (4, True), (3, False)])
def test_values_and_gradients_follow_the_formulas(bits, signed):
    qn, qp = (2 ** (bits - 1), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    torch.manual_seed(0)
    v = (torch.randn(200, dtype=torch.float64) * 3).requires_grad_()
    s = torch.tensor(0.37, dtype=torch.float64, requires_grad=True)
    g = 1.0 / math.sqrt(v.numel() * qp)
    out = lsq(v, s, -qn, qp, g)
    r = v.detach() / s.detach()
    assert torch.equal(out.detach(), torch.round(r.clamp(-qn, qp)) * s.detach())
    out.sum().backward()
    inside = (r > -qn) & (r < qp)
    expected_step = torch.where(r <= -qn, torch.tensor(-qn, dtype=torch.float64),
                                torch.where(r >= qp, torch.tensor(float(qp), dtype=torch.float64),
                                            torch.round(r) - r)).sum() * g
    assert torch.allclose(s.grad, expected_step)
    assert torch.equal(v.grad, inside.double())  # straight through inside the range, zero outside


def test_step_gradient_matches_finite_differences_between_rounding_steps():
    """Away from rounding boundaries v_hat is linear in s with slope round(v/s) inside, Q_P / -Q_N outside:
    what the gradient gives (g = 1 here) up to the -v/s term, which is the derivative of the STE's v/s."""
    v = torch.tensor([0.1, 1.234, -2.71, 50.0, -60.0], dtype=torch.float64)
    s0, h = 0.5, 1e-7
    f = lambda s: lsq(v, torch.tensor(s, dtype=torch.float64), -8, 7, 1.0)  # noqa: E731
    fd = (f(s0 + h) - f(s0 - h)) / (2 * h)
    r = v / s0
    assert torch.allclose(fd, torch.round(r).clamp(-8, 7), atol=1e-6)


def test_step_starts_at_twice_the_mean_magnitude_over_sqrt_qp():
    q = LsqQuantize(4).train()
    x = torch.tensor([[1.0, -3.0], [2.0, 2.0]])
    q(x)
    assert bool(q.initialized) and float(q.step) == pytest.approx(2 * 2.0 / math.sqrt(7))


def test_protected_rows_pass_and_do_not_set_the_step():
    q = LsqQuantize(4).train()
    x = torch.tensor([[100.0, -100.0], [1.0, 1.0]])
    out = q(x, torch.tensor([True, False]))
    assert float(q.step) == pytest.approx(2 * 1.0 / math.sqrt(7))
    assert torch.equal(out[0], x[0]) and not torch.equal(out[1], x[1])
    q.eval()
    assert q(x, torch.tensor([True, False]))[0].abs().max() < 100  # every row quantized at inference


def test_before_any_values_eval_passes_through_and_qparams_are_symmetric():
    q = LsqQuantize(8, signed=False).eval()
    x = torch.rand(3, 2)
    assert torch.equal(q(x), x) and not bool(q.initialized)
    q.train()(x)
    qp = q.qparams()
    assert qp.zero_point == 0 and (qp.qmin, qp.qmax) == (0, 255) and qp.scale == pytest.approx(float(q.step))


def test_the_step_is_learned():
    torch.manual_seed(0)
    q = LsqQuantize(3).train()
    x = torch.randn(500)
    opt = torch.optim.SGD(q.parameters(), lr=1.0)
    losses = []
    for _ in range(50):
        loss = (q(x) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]


def test_non_negative_activations_take_unsigned_codes_below_8_bits():
    x = torch.rand(10, 4)
    q4 = LsqQuantize(4, may_unsign=True).train()
    q4(x)
    assert not q4.signed and (q4.qparams().qmin, q4.qparams().qmax) == (0, 15)
    q8 = LsqQuantize(8, may_unsign=True).train()
    q8(x)
    assert q8.signed  # the engine keeps 8-bit node codes signed
    weights = LsqQuantize(4).train()
    weights(x)
    assert weights.signed


def test_the_max_start_clips_nothing_and_bad_starts_are_refused():
    q = LsqQuantize(4, init="max").train()
    x = torch.tensor([[0.5, -3.5], [1.0, 2.0]])
    q(x)
    assert float(q.step) == pytest.approx(3.5 / 7)
    with pytest.raises(ValueError, match="init must be one of"):
        LsqQuantize(4, init="median")
