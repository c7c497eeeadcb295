"""A²Q's per-node and per-group quantizers: values, gradients to steps and widths, nearest-neighbour groups,
local gradients, the memory penalty, and the frozen form."""

from __future__ import annotations

import pytest
import torch

from dqbench.engine import LoweringError, lower
from dqbench.quant.a2q import A2qQuantize, FixedRowQuantize, nearest_group, row_quantize
from dqbench.registry import ARCHS, METHODS


def test_each_row_uses_its_own_step_and_width():
    x = torch.tensor([[0.9, -3.0], [0.9, -3.0]])
    out = row_quantize(x, torch.tensor([0.5, 0.5]), torch.tensor([2.0, 4.0]), signed=True)
    # 2 bits: codes -2..1 -> 0.9/0.5=1.8 -> 1 (clipped) x 0.5; -6 -> -2; 4 bits: -8..7 -> 2 and -6
    assert torch.equal(out, torch.tensor([[0.5, -1.0], [1.0, -3.0]]))


def test_width_gets_a_gradient_through_the_clip_bound_and_step_through_lsq():
    x = torch.tensor([[10.0, 0.3]])
    bits = torch.tensor([3.0], requires_grad=True)
    step = torch.tensor([1.0], requires_grad=True)
    out = row_quantize(x, step, bits, signed=True)
    out.sum().backward()
    # the clipped value is Q_P(b) * s = (2^(b-1) - 1) s: d/db = ln2 * 2^(b-1) * s
    assert bits.grad.item() == pytest.approx(torch.log(torch.tensor(2.0)).item() * 4)
    assert step.grad.item() == pytest.approx(3 + (round(0.3) - 0.3))  # Q_P for the clipped one, round(v)-v inside


def test_groups_are_picked_by_the_nearest_largest_representable_value():
    step, bits = torch.tensor([0.1, 1.0]), torch.tensor([4.0, 4.0])  # reach 0.7 and 7.0
    x = torch.tensor([[0.5, -0.2], [3.0, 1.0], [-6.5, 0.0]])
    assert nearest_group(x, step, bits, True).tolist() == [0, 0, 1]


def test_local_gradient_keeps_the_task_loss_away_from_steps_and_widths():
    torch.manual_seed(0)
    q = A2qQuantize(4, rows=5, local_gradient=True).train()
    x = torch.randn(5, 3, requires_grad=True)
    q(x).sum().backward()
    assert q.log_step.grad is None and q.bits.grad is None and x.grad is not None
    q(x)
    q.local_loss.backward()
    assert q.log_step.grad is not None and q.log_step.grad.abs().sum() > 0


def test_the_memory_penalty_lowers_the_widths():
    torch.manual_seed(0)
    graph = ARCHS.get("gcn")(in_channels=6, out_channels=3, task="node", hidden=8)
    from torch_geometric.data import Data

    data = Data(x=torch.randn(40, 6), edge_index=torch.randint(0, 40, (2, 120)), y=torch.randint(0, 3, (40,)))
    method = METHODS.get("a2q")(bits=8, target_bits=2.0, memory_lambda=10.0)
    data = method.transform(data)
    model = method.prepare(graph)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model.train()
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(data), data.y) + method.penalty(model)
        loss.backward()
        opt.step()
    widths = torch.cat([q.widths() for q in model.modules() if isinstance(q, A2qQuantize)])
    assert widths.float().mean() < 7.0 and widths.min() >= 2


@pytest.mark.parametrize("per_node", [True, False])
def test_frozen_form_quantizes_like_the_trained_one(per_node):
    torch.manual_seed(1)
    q = A2qQuantize(4, **({"rows": 30} if per_node else {"groups": 4})).train()
    x = torch.randn(30, 5) * torch.linspace(0.1, 5, 30).view(-1, 1)
    q(x)
    q.eval()
    frozen = FixedRowQuantize(q.qparams())
    assert torch.equal(frozen(x), q(x))
    assert frozen.element_bits(x).shape == (30,)


def test_a2q_models_do_not_lower_and_say_why():
    from torch_geometric.data import Data

    data = Data(x=torch.randn(20, 6), edge_index=torch.randint(0, 20, (2, 60)))
    method = METHODS.get("a2q")(bits=4)
    data = method.transform(data)
    model = method.prepare(ARCHS.get("gcn")(in_channels=6, out_channels=3, task="node", hidden=8)).train()
    with torch.no_grad():
        model(data)
    conv = method.convert(model.eval())
    act, _ = conv.activation_profile([data])
    assert act == pytest.approx(4.0)  # every point starts at 4 bits
    with pytest.raises(LoweringError, match="a step and width per node"):
        lower(conv)
