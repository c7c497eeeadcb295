"""Quantization-aware building blocks: every quantization point is a named role that a method can fill."""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dqbench.archs.linear import linear
from dqbench.archs.rows import scatter_rows
from dqbench.errors import DQBenchError
from dqbench.quant.role_bits import ROLES

KINDS = ("node", "edge", "param", "graph")
POOLS = ("sum", "mean")


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout (as ``F.dropout``) from a uniform mask: ~2x cheaper on CPU than its bernoulli sampling,
    which dominated a Cora epoch through the 1433-wide input features."""
    if not training or p == 0:
        return x
    return x * torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))


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
    """y = Q_linear(epilogue(x @ Q_weight(W)^T + b)); the epilogue (e.g. BatchNorm + ReLU) runs before quantizing.
    ``kind`` is what the rows are: "node", or "graph" in a readout."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, kind: str = "node"):
        super().__init__({"weight": "param", "linear": kind})
        self.lin = nn.Linear(in_channels, out_channels, bias=bias)

    @property
    def weight(self) -> torch.Tensor:
        return self.lin.weight

    def forward(self, x, protect=None, epilogue: Callable | None = None):
        h = linear(x, self.q("weight", self.lin.weight), self.lin.bias)
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

    def owner(self, path: str, role: str) -> Quantized:
        """The submodule at ``path`` owning ``role`` (DQBenchError if there is no such quantization point)."""
        try:
            mod = self.get_submodule(path)
        except AttributeError:
            mod = None
        if not isinstance(mod, Quantized) or role not in mod.role_kinds:
            valid = ", ".join(f"{p.path}:{p.role}" for p in self.quant_points())
            raise DQBenchError(f"{self.arch_name} has no quantization point '{path}:{role}'; valid: {valid}")
        return mod

    def set_quantizer(self, path: str, role: str, quantizer: nn.Module) -> None:
        """Fill ``role`` of the submodule at ``path`` (called as ``quantizer(x, protect=None)``)."""
        if not isinstance(quantizer, nn.Module):
            got = type(quantizer).__name__
            raise DQBenchError(f"quantizer for '{path}:{role}' must be a torch.nn.Module, got {got}")
        self.owner(path, role).quant[role] = quantizer

    def get_quantizer(self, path: str, role: str) -> nn.Module:
        return self.owner(path, role).quant[role]

    def protect_mask(self, data) -> torch.Tensor | None:
        if self.training and self.protector is not None:
            return self.protector(data)
        return None


def pool_rows(x: torch.Tensor, batch: torch.Tensor, num_graphs: int, pool: str) -> torch.Tensor:
    """Each graph's node rows summed (``"sum"``) or averaged (``"mean"``, as ``torch_geometric.utils.scatter``:
    the sum over max(count, 1)), in a fixed order."""
    total = scatter_rows(x, batch, num_graphs)
    if pool == "sum":
        return total
    count = torch.bincount(batch, minlength=num_graphs).clamp_(min=1).to(x.dtype)
    return total / count.view(-1, *([1] * (x.dim() - 1)))


class Readout(Quantized):
    """Graph-level head: pooled node features -> Q_input -> QLinear -> ReLU -> QLinear."""

    def __init__(self, hidden: int, out_channels: int, pool: str, dropout: float):
        super().__init__({"input": "graph"})
        check_pool(pool)
        self.pool = pool
        self.dropout = dropout
        self.lin1 = QLinear(hidden, hidden, kind="graph")
        self.lin2 = QLinear(hidden, out_channels, kind="graph")

    def forward(self, x, batch, num_graphs: int):
        g = pool_rows(x, batch, num_graphs, self.pool)
        g = self.q("input", g)
        g = self.lin1(g, epilogue=F.relu)
        g = dropout(g, self.dropout, self.training)
        return self.lin2(g)


def named(model: QuantGNN, name: str, kwargs: dict) -> QuantGNN:
    """Remember the registered arch name and the factory's kwargs (so a converted model can rebuild it)."""
    model.arch_name = name
    model.arch_kwargs = dict(kwargs)
    return model


def check_task(task: str) -> None:
    if task not in ("node", "graph"):
        raise DQBenchError(f"task must be 'node' or 'graph', got {task!r}")


def check_pool(pool: str) -> None:
    if pool not in POOLS:
        raise DQBenchError(f"pool must be 'sum' or 'mean', got {pool!r}")


def check_sizes(**sizes: int) -> None:
    """Every size (channels, hidden, layers, heads) must be a positive int."""
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DQBenchError(f"{key} must be a positive integer, got {value!r}")


def check_dropout(**rates: float) -> None:
    for key, value in rates.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise DQBenchError(f"{key} must be a number in [0, 1), got {value!r}")


def graph_index(data) -> tuple[torch.Tensor, int]:
    """``data.batch`` and the number of graphs (a single graph without ``batch`` is graph 0)."""
    batch = getattr(data, "batch", None)
    if batch is None:
        return torch.zeros(data.num_nodes, dtype=torch.long, device=data.x.device), 1
    num = getattr(data, "num_graphs", None)
    return batch, int(num) if num is not None else (int(batch.max()) + 1 if batch.numel() else 0)


def with_one_self_loop(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """The edges without their self loops, then exactly one loop per node (the edge order edge roles rely on)."""
    loops = torch.arange(num_nodes, device=edge_index.device)
    keep = edge_index[0] != edge_index[1]
    return torch.cat([edge_index[:, keep], torch.stack([loops, loops])], dim=1)
