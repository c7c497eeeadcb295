"""GIN (Xu et al.) with quantization roles: input, message, aggregate, the MLP's weight/linear, update."""

from __future__ import annotations

import math

import torch.nn.functional as F

from dqbench.archs.base import QLinear, Quantized, named
from dqbench.archs.batch_norm import BatchNorm1d
from dqbench.archs.rows import gather_rows, scatter_rows
from dqbench.archs.stack import StackedGNN, check_stack_options
from dqbench.errors import DQBenchError
from dqbench.registry import ARCHS, option_checks


class GINLayer(Quantized):
    """x = Q_input(x); m = Q_message(x); a = Q_aggregate((1 + eps) x_i + sum_j m_j);
    h = Q_linear(relu(bn(a W1^T + b1))); out = Q_update(Q_linear(relu(bn(h W2^T + b2)))) (no bn/relu when last)."""

    def __init__(self, in_channels: int, out_channels: int, last: bool = False, hidden: int | None = None,
                 eps: float = 0.0):
        super().__init__({"input": "node", "message": "node", "aggregate": "node", "update": "node"})
        hidden = hidden or out_channels
        self.lin1 = QLinear(in_channels, hidden)
        self.bn1 = BatchNorm1d(hidden)
        self.lin2 = QLinear(hidden, out_channels)
        self.bn2 = None if last else BatchNorm1d(out_channels)
        self.last = last
        self.eps = float(eps)

    def forward(self, x, edge_index, mask=None):
        x = self.q("input", x, mask)
        m = self.q("message", x, mask)
        src, dst = edge_index[0], edge_index[1]
        a = scatter_rows(gather_rows(m, src), dst, x.size(0), init=(1 + self.eps) * x)
        a = self.q("aggregate", a, mask)
        h = self.lin1(a, mask, epilogue=lambda t: F.relu(self.bn1(t)))
        h = self.lin2(h, mask, epilogue=None if self.last else (lambda t: F.relu(self.bn2(t))))
        return self.q("update", h, mask)


def check_gin_options(eps: float) -> None:
    """GIN's own option (the stack's are checked by the stack), checked when built and as a suite loads."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps):
        raise DQBenchError(f"gin: eps must be a finite number, got {eps!r}")


@ARCHS.register("gin")
@option_checks(check_stack_options, check_gin_options)
def gin(*, in_channels: int, out_channels: int, task: str, hidden: int = 64, layers: int | None = None,
        dropout: float = 0.5, pool: str = "sum", eps: float = 0.0, conv_dropout: float | None = None) -> StackedGNN:
    """Graph Isomorphism Network (fixed eps), two-layer MLP with BatchNorm per layer; sum readout for graph tasks.
    ``layers`` defaults to 5 on graph tasks (as in the GIN and Degree-Quant papers) and 2 on node tasks."""
    check_gin_options(eps)
    if layers is None:
        layers = 5 if task == "graph" else 2
    kwargs = dict(locals())

    def make_layer(i, o, last):
        return GINLayer(i, o, last=last, hidden=hidden, eps=eps)

    base = {k: v for k, v in kwargs.items() if k != "eps"}
    return named(StackedGNN(**base, make_layer=make_layer), "gin", kwargs)
