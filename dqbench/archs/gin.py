"""GIN (Xu et al.) with quantization roles: input, message, aggregate, the MLP's weight/linear, update."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dqbench.archs.base import QLinear, Quantized, named
from dqbench.archs.stack import StackedGNN
from dqbench.registry import ARCHS


class GINLayer(Quantized):
    """x = Q_input(x); m = Q_message(x); a = Q_aggregate(x_i + sum_j m_j);
    h = Q_linear(relu(bn(a W1^T + b1))); out = Q_update(Q_linear(relu(bn(h W2^T + b2)))) (no bn/relu when last)."""

    def __init__(self, in_channels: int, out_channels: int, last: bool = False, hidden: int | None = None):
        super().__init__({"input": "node", "message": "node", "aggregate": "node", "update": "node"})
        hidden = hidden or out_channels
        self.lin1 = QLinear(in_channels, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.lin2 = QLinear(hidden, out_channels)
        self.bn2 = None if last else nn.BatchNorm1d(out_channels)
        self.last = last

    def forward(self, x, edge_index, mask=None):
        x = self.q("input", x, mask)
        m = self.q("message", x, mask)
        src, dst = edge_index[0], edge_index[1]
        a = x.index_add(0, dst, m[src])
        a = self.q("aggregate", a, mask)
        h = self.lin1(a, mask, epilogue=lambda t: F.relu(self.bn1(t)))
        h = self.lin2(h, mask, epilogue=None if self.last else (lambda t: F.relu(self.bn2(t))))
        return self.q("update", h, mask)


@ARCHS.register("gin")
def gin(*, in_channels: int, out_channels: int, task: str, hidden: int = 64, layers: int = 2,
        dropout: float = 0.5, pool: str = "sum") -> StackedGNN:
    """Graph Isomorphism Network (eps = 0), two-layer MLP with BatchNorm per layer; sum readout for graph tasks."""
    kwargs = dict(locals())
    return named(StackedGNN(**kwargs, make_layer=GINLayer), "gin", kwargs)
