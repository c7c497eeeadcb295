import pytest
import torch

from dqbench.registry import DATASETS


@pytest.mark.parametrize("name,folder,nodes,classes,features,train", [
    ("cora", "Cora", 2708, 7, 1433, 140),
    ("citeseer", "CiteSeer", 3327, 6, 3703, 120),
])
def test_planetoid_public_split(real_root, snapshot, name, folder, nodes, classes, features, train):
    root = real_root(f"Planetoid/{folder}")
    before = snapshot(root.mirror) if root.mirror else None
    ds = DATASETS.get(name)(root=root, seed=0)
    assert (ds.name, ds.task, ds.metric, ds.protocol) == (name, "node", "accuracy", "public-split")
    assert (ds.num_features, ds.out_channels, ds.num_folds) == (features, classes, 1)
    split = ds.split(0)
    data = split.data
    assert data.num_nodes == nodes and data.x.shape == (nodes, features)
    assert [int(m.sum()) for m in (split.train, split.val, split.test)] == [train, 500, 1000]
    assert not (split.train & split.val).any() and not (split.val & split.test).any()
    assert int(data.y.max()) + 1 == classes
    assert ((data.x == 0) | (data.x == 1)).all()  # raw bag of words by default
    if before is not None:
        assert snapshot(root.mirror) == before  # the mirror is read, never written
    assert (root.cache / "Planetoid" / folder / "processed").is_dir()


def test_cora_normalize_features(real_root):
    ds = DATASETS.get("cora")(root=real_root("Planetoid/Cora"), seed=0, normalize_features=True)
    sums = ds.split(0).data.x.sum(dim=1)
    assert torch.allclose(sums[sums > 0], torch.ones_like(sums[sums > 0]))
