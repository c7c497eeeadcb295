"""Quantization-aware building blocks: every quantization point is a named role that a method can fill."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

ROLES = ("input", "weight", "linear", "message", "aggregate", "update", "attention")
KINDS = ("node", "edge", "param", "graph")


class QuantPoint(NamedTuple):
    path: str
    role: str
    kind: str


class Identity(nn.Module):
    """An unfilled role."""

    def forward(self, x, protect=None):
        return x


class RoleSlots(nn.Module):
    """Holds one quantizer module per role (``slots[role]``)."""

    def __getitem__(self, role: str) -> nn.Module:
        return self._modules[role]

    def __setitem__(self, role: str, quantizer: nn.Module) -> None:
        self._modules[role] = quantizer


class Quantized(nn.Module):
    """A module owning some roles; ``self.q(role, x, protect)`` applies the quantizer filled into a role."""

    def __init__(self, roles: dict[str, str]):
        super().__init__()
        assert all(r in ROLES for r in roles) and all(k in KINDS for k in roles.values())
        self.role_kinds = dict(roles)
        self.quant = RoleSlots()
        for r in roles:
            self.quant[r] = Identity()

    def q(self, role: str, x: torch.Tensor, protect: torch.Tensor | None = None) -> torch.Tensor:
        return self.quant[role](x, protect)


class QLinear(Quantized):
    """y = Q_linear(epilogue(x @ Q_weight(W)^T + b)); the epilogue (e.g. BatchNorm + ReLU) runs before quantizing."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__({"weight": "param", "linear": "node"})
        self.lin = nn.Linear(in_channels, out_channels, bias=bias)

    @property
    def weight(self) -> torch.Tensor:
        return self.lin.weight

    def forward(self, x, protect=None, epilogue: Callable | None = None):
        h = F.linear(x, self.q("weight", self.lin.weight), self.lin.bias)
        if epilogue is not None:
            h = epilogue(h)
        return self.q("linear", h, protect)


class QuantGNN(nn.Module):
    """A GNN whose quantization points are listed by ``quant_points()`` and filled by ``set_quantizer``."""

    arch_name = "?"

    def __init__(self):
        super().__init__()
        self.protector: Callable | None = None
        self.arch_kwargs: dict = {}

    def quant_points(self) -> list[QuantPoint]:
        return [QuantPoint(path, role, kind) for path, mod in self.named_modules() if isinstance(mod, Quantized)
                for role, kind in mod.role_kinds.items()]

    def set_quantizer(self, path: str, role: str, quantizer: nn.Module) -> None:
        self.get_submodule(path).quant[role] = quantizer

    def get_quantizer(self, path: str, role: str) -> nn.Module:
        return self.get_submodule(path).quant[role]

    def protect_mask(self, data) -> torch.Tensor | None:
        if self.training and self.protector is not None:
            return self.protector(data)
        return None


class Readout(Quantized):
    """Graph-level head: pooled node features -> Q_input -> QLinear -> ReLU -> QLinear."""

    def __init__(self, hidden: int, out_channels: int, pool: str, dropout: float):
        super().__init__({"input": "graph"})
        if pool not in ("sum", "mean"):
            from dqbench.errors import DQBenchError

            raise DQBenchError(f"pool must be 'sum' or 'mean', got {pool!r}")
        self.pool = pool
        self.dropout = dropout
        self.lin1 = QLinear(hidden, hidden)
        self.lin2 = QLinear(hidden, out_channels)

    def forward(self, x, batch, num_graphs: int):
        from torch_geometric.utils import scatter

        g = scatter(x, batch, dim=0, dim_size=num_graphs, reduce=self.pool)
        g = self.q("input", g)
        g = self.lin1(g, epilogue=F.relu)
        g = F.dropout(g, self.dropout, self.training)
        return self.lin2(g)


def named(model: QuantGNN, name: str, kwargs: dict) -> QuantGNN:
    """Remember the registered arch name and the factory's kwargs (so a converted model can rebuild it)."""
    model.arch_name = name
    model.arch_kwargs = dict(kwargs)
    return model


def check_task(task: str) -> None:
    if task not in ("node", "graph"):
        from dqbench.errors import DQBenchError

        raise DQBenchError(f"task must be 'node' or 'graph', got {task!r}")
