"""The lsq method: learned steps at every point, optionally with Degree-Quant's protective masks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dqbench.errors import DQBenchError
from dqbench.quant.lsq import LsqQuantize
from dqbench.registry import ARCHS, METHODS


@pytest.mark.parametrize("arch", ["gcn", "gin", "gat"])
def test_masked_lsq_trains_its_steps_and_protects_high_degree_nodes(arch, node_graph):
    torch.manual_seed(0)
    method = METHODS.get("lsq")(bits=4, masking=True)
    data = method.transform(node_graph)
    assert data.dq_prob.shape == (node_graph.num_nodes,) and float(data.dq_prob.max()) == pytest.approx(0.2)
    model = method.prepare(ARCHS.get(arch)(in_channels=8, out_channels=3, task="node", hidden=16))
    assert model.protector is not None
    qs = [m for m in model.modules() if isinstance(m, LsqQuantize)]
    assert len(qs) == len(model.quant_points())
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(2):  # the first forward sets the steps, the second step moves them
        opt.zero_grad()
        F.cross_entropy(model(data), data.y).backward()
        opt.step()
    assert all(bool(q.initialized) for q in qs)
    assert any(q.log_step.grad is not None and float(q.log_step.grad.abs()) > 0 for q in qs)


def test_unmasked_lsq_leaves_the_data_alone(node_graph):
    method = METHODS.get("lsq")(bits=8)
    assert method.transform(node_graph) is node_graph
    assert method.prepare(ARCHS.get("gcn")(in_channels=8, out_channels=3, task="node")).protector is None


@pytest.mark.parametrize("kwargs, says", [
    ({"masking": "yes"}, "masking must be true or false"),
    ({"p_min": 0.5, "p_max": 0.1}, "0 <= p_min <= p_max <= 1"),
    ({"bits": 9}, "bit width 9 is not supported"),
    ({"init": "median"}, "lsq init must be one of mean, max"),
])
def test_bad_options_are_refused(kwargs, says):
    with pytest.raises(DQBenchError, match=says):
        METHODS.get("lsq")(**kwargs)
