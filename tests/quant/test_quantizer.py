import pytest
import torch

from dqbench.errors import DQBenchError
from dqbench.quant.fake_quant import fake_quantize
from dqbench.quant.observers import MinMaxObserver, MomentumObserver
from dqbench.quant.qparams import QParams
from dqbench.quant.quantizer import FakeQuantize, FixedQuantize


@pytest.mark.parametrize("bits", [1, 9, 32])
def test_bits_outside_2_to_8_are_user_errors(bits):
    with pytest.raises(DQBenchError, match="2 to 8"):
        FakeQuantize(bits)


def test_unknown_backward_is_user_error():
    with pytest.raises(DQBenchError, match="ste, clip"):
        FakeQuantize(8, backward="straight")


def test_training_observes_then_quantizes():
    q = FakeQuantize(4, observer=MinMaxObserver()).train()
    x = torch.linspace(-1, 1, 50)
    out = q(x)
    qp = q.qparams()
    assert qp == QParams.from_range(-1.0, 1.0, 4, True)
    assert torch.equal(out, fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax))
    assert len(torch.unique(out)) <= 16


def test_eval_uses_frozen_range_and_does_not_observe():
    q = FakeQuantize(8, observer=MinMaxObserver()).train()
    q(torch.tensor([-1.0, 1.0]))
    q.eval()
    out = q(torch.tensor([-10.0, 0.0, 10.0]))
    assert (float(q.observer.lo), float(q.observer.hi)) == (-1.0, 1.0)
    assert out.abs().max() <= 1.0 + q.qparams().scale  # clamped (up to the zero-point rounding)


def test_protected_rows_pass_through_and_are_not_observed():
    q = FakeQuantize(2, observer=MinMaxObserver(), backward="clip").train()
    x = torch.tensor([[0.3, -0.7], [50.0, -50.0], [0.9, 0.1]], requires_grad=True)
    protect = torch.tensor([False, True, False])
    out = q(x, protect)
    assert torch.equal(out[1], x[1].detach())  # protected: full precision
    assert len(torch.unique(out[[0, 2]])) <= 4  # others: 2-bit grid
    assert float(q.observer.hi) == pytest.approx(0.9) and float(q.observer.lo) == pytest.approx(-0.7)
    out.sum().backward()
    assert x.grad[1].tolist() == [1.0, 1.0]  # protected rows get the identity gradient


def test_clamp_protected_clamps_protected_rows_to_the_range_without_rounding():
    q = FakeQuantize(2, observer=MinMaxObserver(), backward="clip").train()
    q(torch.tensor([[-1.0, 1.0]]))  # range [-1, 1]
    q.clamp_protected = True
    x = torch.tensor([[0.3, -0.7], [50.0, 0.37], [0.9, 0.1]], requires_grad=True)
    protect = torch.tensor([False, True, False])
    out = q(x, protect)
    qp = q.qparams()
    hi = (qp.qmax - qp.zero_point) * qp.scale
    assert out[1].tolist() == pytest.approx([hi, 0.37])  # clamped, not rounded
    assert torch.equal(out[[0, 2]], fake_quantize(x[[0, 2]].detach(), qp.scale, qp.zero_point, qp.qmin, qp.qmax))
    assert float(q.observer.hi) == pytest.approx(1.0)  # still not observed
    out.sum().backward()
    assert x.grad[1].tolist() == [0.0, 1.0]  # no gradient where the protected value was clamped
    q.clamp_protected = False
    assert torch.equal(q(x, protect)[1], x[1].detach())  # off: unclamped


def test_observe_protected_lets_protected_rows_set_the_range():
    q = FakeQuantize(2, observer=MinMaxObserver()).train()
    q.observe_protected = True
    x = torch.tensor([[0.3, -0.7], [50.0, -50.0], [0.9, 0.1]])
    out = q(x, torch.tensor([False, True, False]))
    assert (float(q.observer.lo), float(q.observer.hi)) == (-50.0, 50.0)  # the protected row is in the range
    assert torch.equal(out[1], x[1])  # and still passes through unquantized in training


def test_protection_ignored_in_eval():
    q = FakeQuantize(2, observer=MinMaxObserver()).train()
    q(torch.tensor([[-1.0], [1.0]]))
    q.eval()
    x = torch.tensor([[0.33], [0.77]])
    assert torch.equal(q(x, torch.tensor([True, True])), q(x))
    assert not torch.equal(q(x), x)


def test_edge_mask_on_3d_rows():
    q = FakeQuantize(3, observer=MinMaxObserver()).train()
    x = torch.randn(5, 2, 3)
    protect = torch.tensor([True, False, False, True, False])
    out = q(x, protect)
    assert torch.equal(out[protect], x[protect])
    assert not torch.equal(out[~protect], x[~protect])


def test_uninitialized_passes_through_then_calibrating_observes_only():
    q = FakeQuantize(8, observer=MinMaxObserver()).eval()
    x = torch.tensor([0.123, -0.456])
    assert torch.equal(q(x), x)
    q.calibrating = True
    assert torch.equal(q(torch.tensor([-2.0, 3.0])), torch.tensor([-2.0, 3.0]))
    q.calibrating = False
    assert bool(q.observer.initialized) and float(q.observer.hi) == 3.0


def test_frozen_never_observes():
    q = FakeQuantize(8, observer=MinMaxObserver()).train()
    q(torch.tensor([-1.0, 1.0]))
    q.freeze()
    q(torch.tensor([-9.0, 9.0]))
    assert float(q.observer.hi) == 1.0


def test_dynamic_follows_the_current_tensor_in_eval():
    q = FakeQuantize(8, dynamic=True).eval()
    q(torch.tensor([-1.0, 1.0]))
    q(torch.tensor([-3.0, 2.0]))
    assert (float(q.observer.lo), float(q.observer.hi)) == (-3.0, 2.0)


def test_momentum_quantizer_unsigned_codes():
    q = FakeQuantize(4, signed=False, observer=MomentumObserver(0.5)).train()
    out = q(torch.rand(100))
    assert q.qparams().zero_point == 0 and (out >= 0).all()


def test_fixed_quantize_matches_formula():
    qp = QParams.from_range(-1.0, 2.0, 5, True)
    x = torch.randn(20)
    assert torch.equal(FixedQuantize(qp)(x, protect=torch.ones(20, dtype=torch.bool)),
                       fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax))
