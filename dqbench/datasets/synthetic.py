"""Seeded synthetic power-law graphs (Chung-Lu), any size: for tests and latency at scale."""

from __future__ import annotations

import math

import torch

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.errors import DQBenchError
from dqbench.registry import DATASETS, option_checks


def check_sizes(name: str, **values: tuple) -> None:
    """Raise DQBenchError unless each ``key=(value, minimum)`` is an integer >= minimum."""
    for key, (value, low) in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DQBenchError(f"dataset '{name}': {key} must be an integer >= {low}, not {value!r}")


def check_above(name: str, **values: tuple) -> None:
    """Raise DQBenchError unless each ``key=(value, bound)`` is a finite number > bound."""
    for key, (value, low) in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= low:
            raise DQBenchError(f"dataset '{name}': {key} must be a finite number > {low}, not {value!r}")


def check_synthetic(num_nodes: int, avg_degree: float, exponent: float, num_features: int, num_classes: int,
                    graph_seed: int) -> None:
    """The options of ``synthetic``, checked before anything is generated and as a suite loads."""
    check_sizes("synthetic", num_nodes=(num_nodes, 2), num_features=(num_features, 1), num_classes=(num_classes, 2),
                graph_seed=(graph_seed, 0))
    check_above("synthetic", avg_degree=(avg_degree, 0), exponent=(exponent, 1))
    if num_nodes * avg_degree < 2:
        raise DQBenchError(f"dataset 'synthetic': num_nodes * avg_degree must be at least 2 (one edge), not "
                           f"{num_nodes} * {avg_degree}")


def power_law_edges(num_nodes: int, avg_degree: float, exponent: float, gen: torch.Generator) -> torch.Tensor:
    """Undirected Chung-Lu-style graph, coalesced (no self-loops, no duplicates), both directions stored.

    Endpoints of ``num_nodes * avg_degree / 2`` pairs are drawn with probability proportional to
    (i+1)^(-1/(exponent-1)), which gives a power-law degree tail with that exponent; node ids are then shuffled.
    Merged duplicates make the edge count slightly below ``num_nodes * avg_degree``.
    """
    weights = torch.arange(1, num_nodes + 1, dtype=torch.float64).pow(-1.0 / (exponent - 1.0))
    num_pairs = int(num_nodes * avg_degree / 2)
    src = torch.multinomial(weights, num_pairs, replacement=True, generator=gen)
    dst = torch.multinomial(weights, num_pairs, replacement=True, generator=gen)
    perm = torch.randperm(num_nodes, generator=gen)  # hubs spread over ids, not all at 0..k
    src, dst = perm[src], perm[dst]
    keep = src != dst
    edge_index = torch.stack([torch.cat([src[keep], dst[keep]]), torch.cat([dst[keep], src[keep]])])
    key = torch.unique(edge_index[0] * num_nodes + edge_index[1])
    return torch.stack([key // num_nodes, key % num_nodes])


def smooth_labels(x: torch.Tensor, edge_index: torch.Tensor, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Labels a GNN can learn: argmax of a random projection of each node's features plus its neighbours' mean.

    Projects first (linear, so the same result) so the gather is num_edges x num_classes, not x num_features.
    """
    from torch_geometric.utils import scatter

    proj = torch.randn(x.size(1), num_classes, generator=gen)
    z = x @ proj
    agg = scatter(z[edge_index[0]], edge_index[1], dim=0, dim_size=x.size(0), reduce="mean")
    return (z + agg).argmax(dim=1)


def random_masks(n: int, gen: torch.Generator, fractions=(0.6, 0.2)) -> tuple[torch.Tensor, ...]:
    perm = torch.randperm(n, generator=gen)
    a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
    masks = []
    for lo, hi in ((0, a), (a, b), (b, n)):
        m = torch.zeros(n, dtype=torch.bool)
        m[perm[lo:hi]] = True
        masks.append(m)
    return tuple(masks)


@DATASETS.register("synthetic")
@option_checks(check_synthetic)
def synthetic(*, root=None, seed: int = 0, num_nodes: int = 1000, avg_degree: float = 10.0, exponent: float = 2.5,
              num_features: int = 32, num_classes: int = 4, graph_seed: int = 0) -> LoadedDataset:
    """Seeded power-law (Chung-Lu) node-classification graph of any size, random 60/20/20 split.

    The graph, features, labels and masks are fixed by ``graph_seed`` (trial seeds only change the model), so
    every seed and method sees the same graph. Labels: argmax of a random projection of (features + neighbour
    mean), learnable by a GNN. ``exponent`` is the power-law exponent of the degree tail.
    """
    from torch_geometric.data import Data

    check_synthetic(num_nodes, avg_degree, exponent, num_features, num_classes, graph_seed)
    gen = torch.Generator().manual_seed(graph_seed)
    edge_index = power_law_edges(num_nodes, avg_degree, exponent, gen)
    x = torch.randn(num_nodes, num_features, generator=gen)
    y = smooth_labels(x, edge_index, num_classes, gen)
    train, val, test = random_masks(num_nodes, gen)
    data = Data(x=x, edge_index=edge_index, y=y, num_nodes=num_nodes)
    split = Split(data=data, train=train, val=val, test=test)
    return LoadedDataset(
        name="synthetic", task="node", metric="accuracy", protocol="random-split", num_features=num_features,
        out_channels=num_classes, num_folds=1, splits=lambda fold: split,
        stats={"nodes": num_nodes, "edges": edge_index.size(1)},
    )
