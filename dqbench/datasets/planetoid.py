"""Cora and CiteSeer through torch_geometric's Planetoid class, public split (20 labelled nodes per class)."""

from __future__ import annotations

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.datasets.paths import DataRoot, load
from dqbench.registry import DATASETS


def load_planetoid(name: str, root: DataRoot, normalize_features: bool) -> LoadedDataset:
    """Planetoid ``name`` (public split). ``normalize_features`` row-normalizes the bag-of-words features once
    (PyG's NormalizeFeatures, as in Kipf & Welling); off by default, keeping the raw 0/1 features."""
    from torch_geometric.datasets import Planetoid
    from torch_geometric.transforms import NormalizeFeatures

    ds = load(name.lower(), f"Planetoid/{name}", root, lambda folder: Planetoid(str(folder.parent), name,
                                                                                  split="public"))
    data = ds[0]
    if normalize_features:
        data = NormalizeFeatures()(data)
    split = Split(data=data, train=data.train_mask, val=data.val_mask, test=data.test_mask)
    return LoadedDataset(
        name=name.lower(), task="node", metric="accuracy", protocol="public-split",
        num_features=data.num_node_features, out_channels=ds.num_classes, num_folds=1, splits=lambda fold: split,
        stats={"nodes": data.num_nodes, "edges": data.num_edges},
    )


@DATASETS.register("cora")
def cora(*, root: DataRoot, seed: int = 0, normalize_features: bool = False) -> LoadedDataset:
    """Cora citation graph (2708 nodes, 7 classes; public split 140/500/1000), node classification, accuracy."""
    return load_planetoid("Cora", root, normalize_features)


@DATASETS.register("citeseer")
def citeseer(*, root: DataRoot, seed: int = 0, normalize_features: bool = False) -> LoadedDataset:
    """CiteSeer citation graph (3327 nodes, 6 classes; public split 120/500/1000), node classification, accuracy."""
    return load_planetoid("CiteSeer", root, normalize_features)
