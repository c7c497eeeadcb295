"""TU graph-classification datasets through torch_geometric's TUDataset class, 10-fold CV with a validation fold."""

from __future__ import annotations

import torch

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.datasets.cv import stratified_folds
from dqbench.datasets.paths import DataRoot, missing_dataset_error, stage
from dqbench.registry import DATASETS

NUM_FOLDS = 10


def degree_one_hot(data, cap: int):
    """Node features for datasets without any: one-hot of min(in-degree, cap)."""
    from torch_geometric.utils import degree

    deg = degree(data.edge_index[1], data.num_nodes, dtype=torch.long).clamp(max=cap)
    data.x = torch.nn.functional.one_hot(deg, cap + 1).float()
    return data


def load_tu(name: str, root: DataRoot, seed: int, degree_cap: int | None = None) -> LoadedDataset:
    from torch_geometric.datasets import TUDataset

    folder = stage(root, f"TUDataset/{name}")
    try:
        ds = TUDataset(str(folder.parent), name)
    except Exception as exc:
        raise missing_dataset_error(name, f"TUDataset/{name}", root, exc) from None
    graphs = list(ds)
    if ds.num_node_features == 0:
        cap = degree_cap if degree_cap is not None else 64
        graphs = [degree_one_hot(g, cap) for g in graphs]
    labels = torch.cat([g.y for g in graphs]).tolist()
    folds = stratified_folds(labels, NUM_FOLDS, seed)

    def split(k: int) -> Split:
        train, val, test = folds[k]
        return Split(data=None, train=[graphs[i] for i in train], val=[graphs[i] for i in val],
                     test=[graphs[i] for i in test])

    return LoadedDataset(
        name=name.lower(), task="graph", metric="accuracy", protocol="10-fold-cv",
        num_features=graphs[0].num_node_features, out_channels=ds.num_classes, num_folds=NUM_FOLDS, splits=split,
        stats={"graphs": len(graphs)},
    )


def _register(key: str, name: str, doc: str, default_cap: int | None = None) -> None:
    def factory(*, root: DataRoot, seed: int = 0, degree_cap: int | None = default_cap) -> LoadedDataset:
        return load_tu(name, root, seed, degree_cap)

    factory.__doc__ = doc
    factory.__name__ = key.replace("-", "_")
    DATASETS.register(key, factory)


_register("reddit-binary", "REDDIT-BINARY", "REDDIT-BINARY (TUDataset), 2000 graphs; one-hot degree features "
          "capped at 64; 10-fold CV, accuracy.", 64)
_register("imdb-binary", "IMDB-BINARY", "IMDB-BINARY (TUDataset), 1000 graphs; one-hot degree features capped "
          "at 135 (its max degree); 10-fold CV, accuracy.", 135)
_register("mutag", "MUTAG", "MUTAG (TUDataset), 188 molecules; 10-fold CV, accuracy.")
_register("proteins", "PROTEINS", "PROTEINS (TUDataset), 1113 graphs; 10-fold CV, accuracy.")
_register("enzymes", "ENZYMES", "ENZYMES (TUDataset), 600 graphs, 6 classes; 10-fold CV, accuracy.")
