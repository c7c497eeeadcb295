"""A stack of message-passing layers with dropout, plus a readout for graph tasks."""

from __future__ import annotations

from typing import Callable

from torch import nn

from dqbench.archs.base import QuantGNN, Readout, check_dropout, check_sizes, check_task, graph_index
from dqbench.archs.base import dropout as apply_dropout


class StackedGNN(QuantGNN):
    """``layers`` layers built by ``make_layer(in, out, last)``; node tasks end in ``out_channels``."""

    def __init__(self, *, in_channels: int, out_channels: int, task: str, hidden: int, layers: int, dropout: float,
                 make_layer: Callable, pool: str = "sum"):
        super().__init__()
        check_task(task)
        check_sizes(in_channels=in_channels, out_channels=out_channels, hidden=hidden, layers=layers)
        check_dropout(dropout=dropout)
        self.task = task
        self.dropout = dropout
        dims = [in_channels] + [hidden] * layers
        if task == "node":
            dims[-1] = out_channels
        self.convs = nn.ModuleList(
            make_layer(dims[i], dims[i + 1], last=(task == "node" and i == layers - 1)) for i in range(layers)
        )
        self.readout = Readout(hidden, out_channels, pool, dropout) if task == "graph" else None

    def forward(self, data):
        mask = self.protect_mask(data)
        x, edge_index = data.x, data.edge_index
        for conv in self.convs:
            x = apply_dropout(x, self.dropout, self.training)
            x = conv(x, edge_index, mask)
        if self.readout is None:
            return x
        batch, num_graphs = graph_index(data)
        return self.readout(x, batch, num_graphs)
