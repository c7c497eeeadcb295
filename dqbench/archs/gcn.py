"""GCN (Kipf & Welling) with quantization roles: input, weight, linear, message (edge weights), aggregate, update."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dqbench.archs.base import QLinear, Quantized, named, with_one_self_loop
from dqbench.archs.rows import gather_rows, scatter_rows
from dqbench.archs.stack import StackedGNN, check_stack_options
from dqbench.registry import ARCHS, option_checks


def gcn_norm_weights(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges with one self loop per node added, and their weights 1/sqrt(deg_i deg_j) (deg counts the loop)."""
    ei = with_one_self_loop(edge_index, num_nodes)
    deg = torch.zeros(num_nodes, device=ei.device).index_add_(0, ei[1], torch.ones(ei.size(1), device=ei.device))
    dinv = deg.pow(-0.5)
    return ei, dinv[ei[0]] * dinv[ei[1]]


class GCNLayer(Quantized):
    """x = Q_input(x); h = Q_linear(x W^T); w = Q_message(norm); a = Q_aggregate(sum_j w_ij h_j);
    out = Q_update(act(a + b))."""

    def __init__(self, in_channels: int, out_channels: int, last: bool = False):
        super().__init__({"input": "node", "message": "edge", "aggregate": "node", "update": "node"})
        self.lin = QLinear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.last = last

    def forward(self, x, edge_index, mask=None):
        n = x.size(0)
        x = self.q("input", x, mask)
        h = self.lin(x, mask)
        ei, w = gcn_norm_weights(edge_index, n)
        src, dst = ei[0], ei[1]
        w = self.q("message", w, None if mask is None else mask[src])
        a = scatter_rows(gather_rows(h, src) * w.unsqueeze(-1), dst, n)
        a = self.q("aggregate", a, mask)
        out = a + self.bias
        if not self.last:
            out = F.relu(out)
        return self.q("update", out, mask)


@ARCHS.register("gcn")
@option_checks(check_stack_options)
def gcn(*, in_channels: int, out_channels: int, task: str, hidden: int = 64, layers: int = 2,
        dropout: float = 0.5, pool: str = "sum", conv_dropout: float | None = None) -> StackedGNN:
    """Graph Convolutional Network; symmetric normalisation with self loops; sum/mean readout for graph tasks."""
    kwargs = dict(locals())
    return named(StackedGNN(**kwargs, make_layer=GCNLayer), "gcn", kwargs)
