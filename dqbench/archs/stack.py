"""A stack of message-passing layers with dropout, plus a readout for graph tasks."""

from __future__ import annotations

from typing import Callable

from torch import nn

from dqbench.archs.base import QuantGNN, Readout, check_dropout, check_pool, check_sizes, check_task, graph_index
from dqbench.archs.base import dropout as apply_dropout


def check_stack_options(hidden: int, layers: int | None, dropout: float, conv_dropout: float | None,
                        pool: str) -> None:
    """A stack's own options, checked when it is built and as a suite loads (``layers`` None: the arch picks it by
    task; ``conv_dropout`` None: ``dropout``)."""
    check_sizes(hidden=hidden, **({} if layers is None else {"layers": layers}))
    check_dropout(dropout=dropout, **({} if conv_dropout is None else {"conv_dropout": conv_dropout}))
    check_pool(pool)


class StackedGNN(QuantGNN):
    """``layers`` layers built by ``make_layer(in, out, last)``; node tasks end in ``out_channels``.

    ``conv_dropout`` (default: ``dropout``) drops each layer's input; ``dropout`` also drops inside the readout.
    Graph-task GINs as in the GIN and Degree-Quant papers use ``conv_dropout=0``: dropout in the readout only."""

    def __init__(self, *, in_channels: int, out_channels: int, task: str, hidden: int, layers: int, dropout: float,
                 make_layer: Callable, pool: str = "sum", conv_dropout: float | None = None):
        super().__init__()
        check_task(task)
        check_sizes(in_channels=in_channels, out_channels=out_channels)
        check_stack_options(hidden, layers, dropout, conv_dropout, pool)
        conv_dropout = dropout if conv_dropout is None else conv_dropout
        self.task = task
        self.dropout = conv_dropout
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
