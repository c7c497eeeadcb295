"""Shared test helpers: small random graphs and quantizer stand-ins."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from dqbench.registry import ARCHS

ARCH_NAMES = ("gcn", "gin", "gat")


def random_graph(n: int = 12, f: int = 5, e: int = 30, seed: int = 0, isolated: int = 0) -> Data:
    """A random directed multigraph on ``n`` nodes; the last ``isolated`` nodes have no edges at all."""
    gen = torch.Generator().manual_seed(seed)
    m = n - isolated
    edge_index = torch.randint(0, m, (2, e), generator=gen)
    return Data(x=torch.randn(n, f, generator=gen), edge_index=edge_index)


def batch_of(*sizes: int, f: int = 5) -> Batch:
    return Batch.from_data_list([random_graph(n, f, 3 * n, seed=i) for i, n in enumerate(sizes)])


def build(name: str, task: str = "node", f: int = 5, out: int = 3, **kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("hidden", 16)
    return ARCHS.get(name)(in_channels=f, out_channels=out, task=task, **kwargs)


class Recorder(nn.Module):
    """Passes values through and remembers every (x, protect) it was called with."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[torch.Tensor, torch.Tensor | None]] = []

    def forward(self, x, protect=None):
        self.calls.append((x.detach().clone(), None if protect is None else protect.clone()))
        return x


class Zero(nn.Module):
    """A quantizer that wipes its input out (so that its effect on the output is visible)."""

    def forward(self, x, protect=None):
        return torch.zeros_like(x)


def record_all(model) -> dict:
    recs = {}
    for p in model.quant_points():
        recs[p] = Recorder()
        model.set_quantizer(p.path, p.role, recs[p])
    return recs
