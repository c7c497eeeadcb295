"""The quant-point API shared by every arch: listing, filling, reading back, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dqbench.archs.base import KINDS, ROLES, Identity, QLinear, QuantGNN, QuantPoint
from dqbench.errors import DQBenchError
from dqbench.registry import ARCHS
from tests.archs.helpers import ARCH_NAMES, Recorder, batch_of, build, random_graph


def test_builtins_registered():
    assert set(ARCH_NAMES) <= set(ARCHS.names())


@pytest.mark.parametrize("name", ARCH_NAMES)
@pytest.mark.parametrize("task", ["node", "graph"])
def test_quant_points_are_valid_and_unique(name, task):
    model = build(name, task)
    points = model.quant_points()
    assert all(isinstance(p, QuantPoint) and p.role in ROLES and p.kind in KINDS for p in points)
    assert len({(p.path, p.role) for p in points}) == len(points)
    for p in points:
        assert isinstance(model.get_quantizer(p.path, p.role), Identity)
        if p.kind == "param":
            assert p.role == "weight" and model.get_submodule(p.path).weight.dim() == 2


@pytest.mark.parametrize("name", ARCH_NAMES)
def test_set_then_get_quantizer(name):
    model = build(name)
    p = model.quant_points()[0]
    rec = Recorder()
    model.set_quantizer(p.path, p.role, rec)
    assert model.get_quantizer(p.path, p.role) is rec
    # quantizers are submodules (they move, save and show with the model) but the weights they hold are theirs
    assert any(m is rec for m in model.modules())


@pytest.mark.parametrize("path,role", [("convs.9", "input"), ("convs.0", "bogus"), ("convs.0", "weight"),
                                       ("nope.deeper", "input"), ("", "input")])
def test_unknown_point_raises(path, role):
    model = build("gcn")
    with pytest.raises(DQBenchError, match="no quantization point"):
        model.set_quantizer(path, role, Identity())
    with pytest.raises(DQBenchError):
        model.get_quantizer(path, role)


def test_quantizer_must_be_a_module():
    model = build("gcn")
    with pytest.raises(DQBenchError, match="nn.Module"):
        model.set_quantizer("convs.0", "input", lambda x, protect=None: x)


@pytest.mark.parametrize("name", ARCH_NAMES)
@pytest.mark.parametrize("task", ["node", "graph"])
def test_rebuild_from_recorded_kwargs(name, task):
    model = build(name, task, dropout=0.1)
    assert model.arch_name == name and isinstance(model, QuantGNN)
    kw = model.arch_kwargs
    assert (kw["in_channels"], kw["out_channels"], kw["task"], kw["dropout"]) == (5, 3, task, 0.1)
    twin = ARCHS.get(name)(**kw)
    twin.load_state_dict(model.state_dict())  # same modules, same shapes
    assert twin.quant_points() == model.quant_points()
    data = batch_of(4, 6) if task == "graph" else random_graph()
    torch.testing.assert_close(twin.eval()(data), model.eval()(data))


@pytest.mark.parametrize("name", ARCH_NAMES)
@pytest.mark.parametrize("kwargs,match", [
    ({"task": "edge"}, "task must be"),
    ({"hidden": 0}, "hidden must be"),
    ({"layers": 0}, "layers must be"),
    ({"dropout": 1.5}, "dropout must be"),
    ({"conv_dropout": -0.1}, "conv_dropout must be"),
    ({"task": "graph", "pool": "max"}, "pool must be"),
    ({"in_channels": -1}, "in_channels must be"),
])
def test_bad_kwargs_raise_one_line(name, kwargs, match):
    base = dict(in_channels=5, out_channels=3, task="node", hidden=16)
    with pytest.raises(DQBenchError, match=match) as err:
        ARCHS.get(name)(**{**base, **kwargs})
    assert "\n" not in str(err.value)


def test_qlinear_roles_and_epilogue():
    lin = QLinear(4, 3)
    assert lin.role_kinds == {"weight": "param", "linear": "node"}
    x = torch.randn(5, 4)
    torch.testing.assert_close(lin(x), x @ lin.weight.T + lin.lin.bias)
    lin.quant["weight"] = _Const(0.0)
    lin.quant["linear"] = _Scale(2.0)
    torch.testing.assert_close(lin(x, epilogue=torch.relu), 2 * torch.relu(lin.lin.bias).expand(5, 3))


class _Const(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.v = v

    def forward(self, x, protect=None):
        return torch.full_like(x, self.v)


class _Scale(_Const):
    def forward(self, x, protect=None):
        return x * self.v


def test_dropout_is_inverted_dropout():
    from dqbench.archs.base import dropout

    x = torch.ones(20000, requires_grad=True)
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0, training=True) is x
    torch.manual_seed(0)
    y = dropout(x, 0.3, training=True)
    kept = y != 0
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.02
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())
