"""Cora and CiteSeer through torch_geometric's Planetoid class, public split."""

from __future__ import annotations

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.datasets.paths import DataRoot, missing_dataset_error, stage
from dqbench.registry import DATASETS


def load_planetoid(name: str, root: DataRoot, normalize_features: bool) -> LoadedDataset:
    from torch_geometric.datasets import Planetoid
    from torch_geometric.transforms import NormalizeFeatures

    folder = stage(root, f"Planetoid/{name}")
    try:
        ds = Planetoid(str(folder.parent), name, split="public",
                       transform=NormalizeFeatures() if normalize_features else None)
    except Exception as exc:  # the class tried to download and could not
        raise missing_dataset_error(name, f"Planetoid/{name}", root, exc) from None
    data = ds[0]
    split = Split(data=data, train=data.train_mask, val=data.val_mask, test=data.test_mask)
    return LoadedDataset(
        name=name.lower(), task="node", metric="accuracy", protocol="public-split",
        num_features=ds.num_features, out_channels=ds.num_classes, num_folds=1, splits=lambda fold: split,
        stats={"nodes": data.num_nodes, "edges": data.num_edges},
    )


@DATASETS.register("cora")
def cora(*, root: DataRoot, seed: int = 0, normalize_features: bool = False) -> LoadedDataset:
    """Cora citation graph (Planetoid public split: 140/500/1000), node classification, accuracy."""
    return load_planetoid("Cora", root, normalize_features)


@DATASETS.register("citeseer")
def citeseer(*, root: DataRoot, seed: int = 0, normalize_features: bool = False) -> LoadedDataset:
    """CiteSeer citation graph (Planetoid public split: 120/500/1000), node classification, accuracy."""
    return load_planetoid("CiteSeer", root, normalize_features)
