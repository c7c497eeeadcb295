"""GAT (Velickovic et al.) with quantization roles: input, weight, linear, attention (edge), aggregate, update.
Attention logits and their softmax run in float; the attention coefficients are quantized (unsigned)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dqbench.archs.base import QLinear, Quantized, check_dropout, check_sizes, named, with_one_self_loop
from dqbench.archs.base import dropout as apply_dropout
from dqbench.archs.rows import gather_rows, scatter_rows, softmax
from dqbench.archs.stack import StackedGNN, check_stack_options
from dqbench.errors import DQBenchError
from dqbench.registry import ARCHS, option_checks

LEAKY_SLOPE = 0.2  # the attention logits' leaky ReLU


class GATLayer(Quantized):
    """h = Q_linear(Q_input(x) W^T); alpha = Q_attention(softmax_j(leaky_relu(a_s.h_j + a_d.h_i)));
    a = Q_aggregate(sum_j alpha_ij h_j) per head; out = Q_update(act(concat-or-mean(a) + b))."""

    def __init__(self, in_channels: int, out_channels: int, last: bool = False, heads: int = 8,
                 attn_dropout: float = 0.6):
        super().__init__({"input": "node", "attention": "edge", "aggregate": "node", "update": "node"})
        self.heads = 1 if last else heads
        self.channels = out_channels if last else max(1, out_channels // heads)
        self.lin = QLinear(in_channels, self.heads * self.channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, self.heads, self.channels))
        self.att_dst = nn.Parameter(torch.empty(1, self.heads, self.channels))
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        self.bias = nn.Parameter(torch.zeros(self.heads * self.channels))
        self.last = last
        self.attn_dropout = attn_dropout

    def forward(self, x, edge_index, mask=None):
        n = x.size(0)
        x = self.q("input", x, mask)
        h = self.lin(x, mask).view(n, self.heads, self.channels)
        src, dst = with_one_self_loop(edge_index, n)
        scores = gather_rows((h * self.att_src).sum(-1), src) + gather_rows((h * self.att_dst).sum(-1), dst)
        alpha = softmax(F.leaky_relu(scores, LEAKY_SLOPE), dst, n)
        alpha = self.q("attention", alpha, None if mask is None else mask[src])
        alpha = apply_dropout(alpha, self.attn_dropout, self.training)
        a = scatter_rows(gather_rows(h, src) * alpha.unsqueeze(-1), dst, n)
        a = self.q("aggregate", a.reshape(n, -1), mask)
        out = a + self.bias
        if not self.last:
            out = F.elu(out)
        return self.q("update", out, mask)


def check_gat_options(hidden: int, heads: int, attn_dropout: float) -> None:
    """GAT's own options, checked when it is built and as a suite loads."""
    check_sizes(hidden=hidden, heads=heads)
    check_dropout(attn_dropout=attn_dropout)
    if hidden % heads:
        raise DQBenchError(f"gat: hidden ({hidden}) must be a multiple of heads ({heads})")


@ARCHS.register("gat")
@option_checks(check_stack_options, check_gat_options)
def gat(*, in_channels: int, out_channels: int, task: str, hidden: int = 64, layers: int = 2,
        dropout: float = 0.6, heads: int = 8, attn_dropout: float = 0.6, pool: str = "sum",
        conv_dropout: float | None = None) -> StackedGNN:
    """Graph Attention Network (multi-head, concatenated on hidden layers, one head on the last node-task layer)."""
    kwargs = dict(locals())
    check_gat_options(hidden, heads, attn_dropout)

    def make_layer(i, o, last):
        return GATLayer(i, o, last=last, heads=heads, attn_dropout=attn_dropout)

    base = {k: v for k, v in kwargs.items() if k not in ("heads", "attn_dropout")}
    return named(StackedGNN(**base, make_layer=make_layer), "gat", kwargs)
