"""TU graph-classification datasets through torch_geometric's TUDataset class, seeded stratified 10-fold CV.

Datasets without node features (IMDB-BINARY, REDDIT-BINARY) get one-hot degree features, ``one_hot(min(deg, cap))``
(``cap + 1`` columns), computed once at load. IMDB-BINARY's cap defaults to 135, its maximum degree (so nothing is
clipped, as in GIN); REDDIT-BINARY's degrees reach 3062 (mean 2.3), so its cap defaults to 64: the 0.2% of its
nodes with degree >= 64 (the hubs) share the last column, instead of ~3000 almost empty columns.
``degree_features="standardized"`` gives one column instead, ``(deg - mean) / std`` over all the dataset's nodes:
what the Degree-Quant authors' code uses on REDDIT-BINARY (the standardised degree when the maximum degree is
1000 or more).
"""

from __future__ import annotations

import torch

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.datasets.cv import stratified_folds
from dqbench.datasets.paths import DataRoot, load
from dqbench.errors import DQBenchError
from dqbench.registry import DATASETS, option_checks

NUM_FOLDS = 10


def in_degrees(graphs: list) -> list:
    """Each graph's in-degree per node (int64)."""
    return [torch.bincount(g.edge_index[1], minlength=g.num_nodes) for g in graphs]


def degree_one_hot(graphs: list, cap: int) -> list:
    """Set each graph's ``x`` to the one-hot of min(in-degree, cap) (``cap + 1`` float columns); returns ``graphs``.

    Built as one tensor for all graphs and handed out as row slices: per-graph allocation is ~40x slower.
    """
    degs = [d.clamp_(max=cap) for d in in_degrees(graphs)]
    x = torch.zeros(sum(d.numel() for d in degs), cap + 1)
    if degs:
        x.scatter_(1, torch.cat(degs).view(-1, 1), 1.0)
    for g, rows in zip(graphs, x.split([d.numel() for d in degs])):
        g.x = rows
    return graphs


def degree_standardized(graphs: list) -> list:
    """Set each graph's ``x`` to one column, its nodes' in-degree standardised over all nodes of all ``graphs``."""
    degs = [d.float() for d in in_degrees(graphs)]
    if degs:
        flat = torch.cat(degs)
        mean, std = flat.mean(), flat.std()
        for g, d in zip(graphs, degs):
            g.x = ((d - mean) / std).view(-1, 1)
    return graphs


DEGREE_FEATURES = ("one_hot", "standardized")


def check_degree_features(name: str, kind) -> str:
    if kind not in DEGREE_FEATURES:
        raise DQBenchError(f"dataset '{name}': degree_features must be one of {list(DEGREE_FEATURES)}, "
                           f"not {kind!r}")
    return kind


def check_cap(name: str, cap) -> int:
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise DQBenchError(f"dataset '{name}': degree_cap must be a positive integer, not {cap!r}")
    return cap


def degree_options(name: str):
    """The check of a degree-featured dataset's options, run as a suite loads (the factory checks them too)."""

    def check(degree_cap: int, degree_features: str) -> None:
        check_cap(name, degree_cap)
        check_degree_features(name, degree_features)

    return check


def load_tu(name: str, root: DataRoot, seed: int, degree_cap: int | None = None,
            degree_features: str = "one_hot") -> LoadedDataset:
    """TUDataset ``name`` as a list of graphs, split by seeded stratified 10-fold CV (fold k tests, k+1 validates).
    With a ``degree_cap``, node features are degrees: one-hot up to the cap, or standardized (one column)."""
    from torch_geometric.datasets import TUDataset

    key = name.lower()
    ds = load(key, f"TUDataset/{name}", root, lambda folder: TUDataset(str(folder.parent), name))
    graphs = list(ds)
    if degree_cap is not None and degree_features == "standardized":
        graphs = degree_standardized(graphs)
    elif degree_cap is not None:
        graphs = degree_one_hot(graphs, degree_cap)
    elif ds.num_node_features == 0:
        raise DQBenchError(f"dataset '{key}' has no node features; give it a degree_cap")
    labels = torch.cat([g.y for g in graphs]).tolist()
    folds = stratified_folds(labels, NUM_FOLDS, seed)

    def split(k: int) -> Split:
        train, val, test = folds[k]
        return Split(data=None, train=[graphs[i] for i in train], val=[graphs[i] for i in val],
                     test=[graphs[i] for i in test])

    return LoadedDataset(
        name=key, task="graph", metric="accuracy", protocol="10-fold-cv",
        num_features=graphs[0].num_node_features, out_channels=ds.num_classes, num_folds=NUM_FOLDS, splits=split,
        stats={"graphs": len(graphs), "nodes": sum(g.num_nodes for g in graphs)},
    )


@DATASETS.register("mutag")
def mutag(*, root: DataRoot, seed: int = 0) -> LoadedDataset:
    """MUTAG: 188 molecules, 2 classes, 7 one-hot atom labels; 10-fold CV, accuracy."""
    return load_tu("MUTAG", root, seed)


@DATASETS.register("proteins")
def proteins(*, root: DataRoot, seed: int = 0) -> LoadedDataset:
    """PROTEINS: 1113 graphs, 2 classes, 3 one-hot node labels; 10-fold CV, accuracy."""
    return load_tu("PROTEINS", root, seed)


@DATASETS.register("enzymes")
def enzymes(*, root: DataRoot, seed: int = 0) -> LoadedDataset:
    """ENZYMES: 600 graphs, 6 classes, 3 one-hot node labels; 10-fold CV, accuracy."""
    return load_tu("ENZYMES", root, seed)


@DATASETS.register("imdb-binary")
@option_checks(degree_options("imdb-binary"))
def imdb_binary(*, root: DataRoot, seed: int = 0, degree_cap: int = 135,
                degree_features: str = "one_hot") -> LoadedDataset:
    """IMDB-BINARY: 1000 graphs, 2 classes; one-hot degree features (cap 135 = max degree) or the standardized
    degree; 10-fold CV, accuracy."""
    return load_tu("IMDB-BINARY", root, seed, check_cap("imdb-binary", degree_cap),
                   check_degree_features("imdb-binary", degree_features))


@DATASETS.register("reddit-binary")
@option_checks(degree_options("reddit-binary"))
def reddit_binary(*, root: DataRoot, seed: int = 0, degree_cap: int = 64,
                  degree_features: str = "one_hot") -> LoadedDataset:
    """REDDIT-BINARY: 2000 graphs, 2 classes; one-hot degree features capped at 64, or the standardized degree
    (the authors' code); 10-fold CV, accuracy."""
    return load_tu("REDDIT-BINARY", root, seed, check_cap("reddit-binary", degree_cap),
                   check_degree_features("reddit-binary", degree_features))
