"""Seeded synthetic graph-classification set: small power-law graphs whose class is their degree exponent."""

from __future__ import annotations

import torch

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.datasets.cv import stratified_folds
from dqbench.datasets.synthetic import check_sizes, power_law_edges
from dqbench.datasets.tu import degree_one_hot
from dqbench.registry import DATASETS, option_checks


def check_synthetic_graphs(num_graphs: int, min_nodes: int, max_nodes: int, num_folds: int, graph_seed: int) -> None:
    """The options of ``synthetic-graphs``, checked before anything is generated and as a suite loads."""
    name = "synthetic-graphs"
    check_sizes(name, num_folds=(num_folds, 3), min_nodes=(min_nodes, 2), graph_seed=(graph_seed, 0))
    check_sizes(name, num_graphs=(num_graphs, 2 * num_folds), max_nodes=(max_nodes, min_nodes))


@DATASETS.register("synthetic-graphs")
@option_checks(check_synthetic_graphs)
def synthetic_graphs(*, root=None, seed: int = 0, num_graphs: int = 120, min_nodes: int = 10, max_nodes: int = 40,
                     num_folds: int = 3, graph_seed: int = 0) -> LoadedDataset:
    """Small power-law graphs (class 0: exponent 3.0, class 1: exponent 2.1), degree features, k-fold CV."""
    from torch_geometric.data import Data

    check_synthetic_graphs(num_graphs, min_nodes, max_nodes, num_folds, graph_seed)
    gen = torch.Generator().manual_seed(graph_seed)
    graphs = []
    for i in range(num_graphs):
        label = i % 2
        n = int(torch.randint(min_nodes, max_nodes + 1, (1,), generator=gen))
        edge_index = power_law_edges(n, 4.0, 3.0 if label == 0 else 2.1, gen)
        g = Data(edge_index=edge_index, y=torch.tensor([label]), num_nodes=n)
        graphs.append(g)
    degree_one_hot(graphs, 16)
    folds = stratified_folds([g.y.item() for g in graphs], num_folds, seed)

    def split(k: int) -> Split:
        train, val, test = folds[k]
        return Split(data=None, train=[graphs[i] for i in train], val=[graphs[i] for i in val],
                     test=[graphs[i] for i in test])

    return LoadedDataset(
        name="synthetic-graphs", task="graph", metric="accuracy", protocol=f"{num_folds}-fold-cv",
        num_features=17, out_channels=2, num_folds=num_folds, splits=split, stats={"graphs": num_graphs},
    )
