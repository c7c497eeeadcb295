"""Tiny seeded graphs for the method tests: one node-task graph and a batch of small graphs."""

from __future__ import annotations

import pytest
import torch

NUM_FEATURES, NUM_CLASSES = 8, 3


def tiny_graph(num_nodes: int = 40, num_edges: int = 160, seed: int = 0):
    """A random directed graph (made undirected) with a hub, features and labels."""
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    dst = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    hub = torch.stack([torch.zeros(num_nodes // 2, dtype=torch.long), torch.arange(num_nodes // 2)])
    edge_index = to_undirected(torch.cat([torch.stack([src, dst]), hub], dim=1), num_nodes=num_nodes)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    return Data(x=torch.randn(num_nodes, NUM_FEATURES, generator=gen), edge_index=edge_index,
                y=torch.randint(0, NUM_CLASSES, (num_nodes,), generator=gen), num_nodes=num_nodes)


@pytest.fixture
def node_graph():
    return tiny_graph()


@pytest.fixture
def graph_list():
    graphs = []
    for i in range(6):
        g = tiny_graph(num_nodes=8 + i, num_edges=20, seed=i)
        g.y = torch.tensor([i % NUM_CLASSES])
        graphs.append(g)
    return graphs
