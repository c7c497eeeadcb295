"""ogbg-molhiv through ogb's PygGraphPropPredDataset: official scaffold split, ogb Evaluator ROC-AUC."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.datasets.paths import DataRoot, missing_dataset_error, stage
from dqbench.registry import DATASETS


class OneHotAtoms:
    """Float node features for plain-Linear GNNs: one-hot of each of ogb's 9 categorical atom features."""

    def __init__(self):
        from ogb.utils.features import get_atom_feature_dims

        self.dims = get_atom_feature_dims()
        self.offsets = torch.tensor([0] + list(self.dims[:-1])).cumsum(0)
        self.size = int(sum(self.dims))

    def __call__(self, data):
        data = data.clone()
        idx = data.x.long() + self.offsets
        x = torch.zeros(data.num_nodes, self.size)
        x.scatter_(1, idx, 1.0)
        data.x = x
        data.y = data.y.float()
        return data


def _allow_pyg_pickles() -> None:
    # ogb 1.3.6 calls torch.load without weights_only=False; allow-list PyG's storage classes (see shared/data).
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    torch.serialization.add_safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])


def _bce(logits, y):
    y = y.view(logits.shape).float()
    labelled = ~torch.isnan(y)
    return F.binary_cross_entropy_with_logits(logits[labelled], y[labelled])


def _rocauc(logits, y):
    from ogb.graphproppred import Evaluator

    res = Evaluator("ogbg-molhiv").eval({"y_true": y.view(-1, 1).cpu(), "y_pred": logits.view(-1, 1).cpu()})
    return float(res["rocauc"])


@DATASETS.register("ogbg-molhiv")
def ogbg_molhiv(*, root: DataRoot, seed: int = 0) -> LoadedDataset:
    """ogbg-molhiv (41,127 molecules), official scaffold split, ROC-AUC by ogb's Evaluator; one-hot atom features."""
    from ogb.graphproppred import PygGraphPropPredDataset

    folder = stage(root, "ogb/ogbg_molhiv")
    _allow_pyg_pickles()
    try:
        ds = PygGraphPropPredDataset(name="ogbg-molhiv", root=str(folder.parent))
    except Exception as exc:
        raise missing_dataset_error("ogbg-molhiv", "ogb/ogbg_molhiv", root, exc) from None
    encode = OneHotAtoms()
    ds.transform = encode
    idx = ds.get_idx_split()
    split = Split(data=None, train=ds[idx["train"]], val=ds[idx["valid"]], test=ds[idx["test"]])
    return LoadedDataset(
        name="ogbg-molhiv", task="graph", metric="rocauc", protocol="scaffold-split", num_features=encode.size,
        out_channels=1, num_folds=1, splits=lambda fold: split, loss_fn=_bce, score_fn=_rocauc,
        stats={"graphs": len(ds)},
    )
