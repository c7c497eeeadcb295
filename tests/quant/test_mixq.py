"""The relaxed width choice: a softmax mixture of fake-quantized copies, its expected width, and the fix."""

from __future__ import annotations

import torch

from dqbench.quant.fake_quant import fake_quantize
from dqbench.quant.mixq import MixQuantize
from dqbench.quant.observers import MomentumObserver, Observer


def test_searching_output_is_the_softmax_mixture_of_each_widths_copy():
    q = MixQuantize((8, 2, 4), True, MomentumObserver(0.5)).train()
    with torch.no_grad():
        q.alpha.copy_(torch.tensor([0.3, -1.0, 2.0]))
    x = torch.randn(50, 6)
    out = q(x)
    p = torch.softmax(q.alpha.detach(), 0)
    expected = sum(pk * fake_quantize(x, *(lambda qp: (qp.scale, qp.zero_point, qp.qmin, qp.qmax))(q.qparams(b)))
                   for pk, b in zip(p, (2, 4, 8)))
    assert q.candidates == (2, 4, 8) and torch.allclose(out, expected)
    assert torch.allclose(q.expected_bits(), (p * torch.tensor([2.0, 4.0, 8.0])).sum())


def test_the_size_gradient_moves_probability_to_narrow_widths():
    q = MixQuantize((2, 4, 8), True, Observer(), dynamic=True)
    q.expected_bits().backward()
    assert q.alpha.grad[0] < 0 < q.alpha.grad[2]  # gradient descent raises alpha of 2 bits, lowers 8's


def test_fix_keeps_the_most_probable_width_and_eval_uses_it_before():
    q = MixQuantize((2, 4, 8), False, MomentumObserver(0.5)).train()
    x = torch.rand(20, 3)
    q(x)
    with torch.no_grad():
        q.alpha.copy_(torch.tensor([0.0, 3.0, 1.0]))
    q.eval()
    assert q.searching and q.bits == 4
    qp = q.qparams()
    assert torch.equal(q(x), fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax))
    q.fix()
    assert not q.searching and q.bits == 4 and q.qparams().qmax == 15  # unsigned 4-bit
    with torch.no_grad():
        q.alpha.copy_(torch.tensor([9.0, 0.0, 0.0]))
    assert q.bits == 4  # fixed: later alphas no longer matter


def test_the_fixed_width_survives_a_state_dict_round_trip():
    a = MixQuantize((2, 4, 8), True, Observer(), dynamic=True)
    with torch.no_grad():
        a.alpha.copy_(torch.tensor([0.0, 0.0, 1.0]))
    a.fix()
    b = MixQuantize((2, 4, 8), True, Observer(), dynamic=True)
    b.load_state_dict(a.state_dict())
    assert not b.searching and b.bits == 8
