"""ogbg-molhiv through ogb's PygGraphPropPredDataset: official scaffold split, ROC-AUC by ogb's Evaluator.

Node features: ogb stores 9 categorical atom features per atom. The default ``atom_features="onehot"`` turns them
into the concatenated one-hot of each (``num_features`` = 174, the sum of ``get_atom_feature_dims()``); a Linear
layer on it is exactly ogb's AtomEncoder (a sum of per-feature embeddings), so plain quantized Linears can use it.
It is encoded once at load for all 1.05M atoms (~730 MB of float32, shared by every split and trial; per-graph
encoding on access costs as much memory per training run and ~15 s). ``atom_features="raw"`` gives the 9 integer
codes cast to float (``num_features`` = 9, ~38 MB), compact but it treats categories as numbers.
Labels are float (N, 1), as BCE-with-logits wants.
Edge (bond) features are left in ``edge_attr`` and unused by the built-in architectures.
"""

from __future__ import annotations

import math
import shutil

import torch
import torch.nn.functional as F

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.datasets.paths import DataRoot, load
from dqbench.errors import DQBenchError
from dqbench.registry import DATASETS, option_checks

NAME, RELPATH, RELEASE = "ogbg-molhiv", "ogb/ogbg_molhiv", "RELEASE_v1.txt"


class OneHotAtoms:
    """One-hot of each of ogb's 9 categorical atom features, concatenated (174 float columns)."""

    def __init__(self):
        from ogb.utils.features import get_atom_feature_dims

        self.dims = get_atom_feature_dims()
        self.offsets = torch.tensor([0] + list(self.dims[:-1])).cumsum(0)
        self.size = int(sum(self.dims))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.size(0), self.size)
        return out.scatter_(1, x.long() + self.offsets, 1.0)


class FloatAtoms:
    """The 9 integer atom codes cast to float."""

    size = 9

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


ATOM_FEATURES = {"onehot": OneHotAtoms, "raw": FloatAtoms}


def allow_pyg_pickles() -> None:
    """ogb 1.3.6 calls torch.load without weights_only=False; allow-list PyG's storage classes for torch >= 2.6."""
    from torch_geometric.data import Data
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    torch.serialization.add_safe_globals([Data, DataEdgeAttr, DataTensorAttr, GlobalStorage])


def bce_loss(logits, y):
    """BCE-with-logits over labelled entries (ogb marks missing labels as NaN)."""
    y = y.view(logits.shape).float()
    labelled = ~torch.isnan(y)
    return F.binary_cross_entropy_with_logits(logits[labelled], y[labelled])


def rocauc(logits, y) -> float:
    """ROC-AUC by ogb's Evaluator; NaN when the labels hold a single class (undefined)."""
    from ogb.graphproppred import Evaluator

    y_true, y_pred = y.detach().view(-1, 1).cpu().float(), logits.detach().view(-1, 1).cpu().float()
    labelled = y_true[~torch.isnan(y_true)]
    if labelled.numel() == 0 or labelled.min() == labelled.max():
        return math.nan
    return float(Evaluator(NAME).eval({"y_true": y_true, "y_pred": y_pred})["rocauc"])


def _guard_release(folder) -> None:
    # Without RELEASE_v1.txt ogb asks on stdin whether to re-download; never let it block.
    if folder.is_dir() and not (folder / RELEASE).exists():
        if any(p.is_file() for p in folder.rglob("*")):
            raise DQBenchError(f"dataset '{NAME}' in {folder} has no {RELEASE} (incomplete copy); delete that folder "
                               "so it is staged or downloaded again")
        shutil.rmtree(folder)  # empty leftovers of a failed download


def _open(folder):
    from ogb.graphproppred import PygGraphPropPredDataset

    _guard_release(folder)
    allow_pyg_pickles()
    return PygGraphPropPredDataset(name=NAME, root=str(folder.parent))


def check_atom_features(atom_features: str) -> None:
    if not isinstance(atom_features, str) or atom_features not in ATOM_FEATURES:
        raise DQBenchError(f"dataset '{NAME}': atom_features must be one of {', '.join(ATOM_FEATURES)}, "
                           f"not {atom_features!r}")


@DATASETS.register("ogbg-molhiv")
@option_checks(check_atom_features)
def ogbg_molhiv(*, root: DataRoot, seed: int = 0, atom_features: str = "onehot") -> LoadedDataset:
    """ogbg-molhiv: 41,127 molecules, official scaffold split, ROC-AUC (ogb Evaluator), one-hot atom features.

    ``atom_features``: "onehot" (174 columns, default) or "raw" (9 float codes); loss is BCE-with-logits.
    """
    check_atom_features(atom_features)
    ds = load(NAME, RELPATH, root, _open)
    encode = ATOM_FEATURES[atom_features]()
    # Encode once for the whole collated dataset: every graph (and every ds[idx] subset) slices these rows.
    ds._data.x = encode(ds._data.x)
    ds._data.y = ds._data.y.float()
    idx = ds.get_idx_split()
    split = Split(data=None, train=ds[idx["train"]], val=ds[idx["valid"]], test=ds[idx["test"]])
    return LoadedDataset(
        name=NAME, task="graph", metric="rocauc", protocol="scaffold-split", num_features=encode.size,
        out_channels=1, num_folds=1, splits=lambda fold: split, loss_fn=bce_loss, score_fn=rocauc,
        stats={"graphs": len(ds), "train": len(idx["train"]), "val": len(idx["valid"]), "test": len(idx["test"])},
    )
