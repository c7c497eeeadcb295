import math

import pytest
import torch

from dqbench.datasets.ogb import OneHotAtoms, bce_loss, rocauc
from dqbench.errors import DQBenchError
from dqbench.registry import DATASETS


def test_rocauc_and_bce():
    y = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert rocauc(torch.tensor([-2.0, 3.0, -1.0, 0.5]), y) == 1.0
    assert rocauc(torch.tensor([3.0, -2.0, 0.0, 0.5]), y) == 0.25
    assert math.isnan(rocauc(torch.zeros(3), torch.zeros(3)))  # one class only: undefined
    logits = torch.tensor([[0.3], [-1.0], [2.0]])
    labels = torch.tensor([[1.0], [float("nan")], [0.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor([0.3, 2.0]), torch.tensor([1.0, 0.0]))
    assert float(bce_loss(logits, labels)) == pytest.approx(float(expected))


def test_one_hot_atoms():
    enc = OneHotAtoms()
    x = enc(torch.tensor([[5, 0, 4, 5, 3, 0, 2, 0, 0], [118, 4, 11, 11, 9, 5, 5, 1, 1]]))
    assert x.shape == (2, 174) and enc.size == 174 and x.dtype == torch.float32
    assert x.sum(dim=1).tolist() == [9.0, 9.0]
    assert x[0, 5] == 1 and x[0, 119] == 1 and x[1, 118] == 1 and x[1, 173] == 1


def test_bad_atom_features(tmp_path):
    from dqbench.datasets.paths import DataRoot

    with pytest.raises(DQBenchError, match="atom_features"):
        DATASETS.get("ogbg-molhiv")(root=DataRoot(tmp_path), seed=0, atom_features="embed")


def test_ogbg_molhiv_scaffold_split(real_root, snapshot):
    """First load processes 41k molecules (~8 s); cached loads take < 1 s."""
    root = real_root("ogb/ogbg_molhiv")
    before = snapshot(root.mirror / "ogb") if root.mirror else None
    ds = DATASETS.get("ogbg-molhiv")(root=root, seed=0)
    assert (ds.task, ds.metric, ds.protocol, ds.out_channels, ds.num_folds) == (
        "graph", "rocauc", "scaffold-split", 1, 1)
    s = ds.split(0)
    assert (len(s.train), len(s.val), len(s.test)) == (32901, 4113, 4113)
    g = s.test[0]
    assert g.x.shape[1] == ds.num_features == 174 and g.y.dtype == torch.float32 and g.y.shape == (1, 1)
    assert torch.equal(g.x.sum(dim=1), torch.full((g.num_nodes,), 9.0))
    y = torch.cat([g.y for g in s.test]).view(-1)
    assert 0 < int(y.sum()) < len(y)
    assert ds.score(y * 2 - 1, y) == 1.0
    raw = DATASETS.get("ogbg-molhiv")(root=root, seed=0, atom_features="raw")
    assert raw.num_features == 9 and raw.split(0).test[0].x.shape[1] == 9
    assert (root.cache / "ogb" / "ogbg_molhiv" / "RELEASE_v1.txt").exists()
    if before is not None:
        assert snapshot(root.mirror / "ogb") == before
