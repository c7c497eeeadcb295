import pytest
import torch

from dqbench.errors import DQBenchError
from dqbench.registry import DATASETS


def _check(ds, graphs, classes, features):
    assert (ds.task, ds.metric, ds.protocol, ds.num_folds) == ("graph", "accuracy", "10-fold-cv", 10)
    assert (ds.out_channels, ds.num_features, ds.stats["graphs"]) == (classes, features, graphs)
    tested = []
    for k in range(10):
        s = ds.split(k)
        assert s.data is None
        assert len(s.train) + len(s.val) + len(s.test) == graphs
        assert all(g.x.shape[1] == features for g in s.test)
        tested += [id(g) for g in s.test]
    assert len(set(tested)) == graphs  # each graph is tested exactly once


@pytest.mark.parametrize("name,folder,graphs,classes,features", [
    ("mutag", "MUTAG", 188, 2, 7),
    ("proteins", "PROTEINS", 1113, 2, 3),
    ("enzymes", "ENZYMES", 600, 6, 3),
    ("imdb-binary", "IMDB-BINARY", 1000, 2, 136),
])
def test_tu_loads(real_root, name, folder, graphs, classes, features):
    ds = DATASETS.get(name)(root=real_root(f"TUDataset/{folder}"), seed=0)
    _check(ds, graphs, classes, features)


@pytest.mark.slow
def test_reddit_binary_loads(real_root):
    """First load processes 60 MB of edges (~30 s); cached loads take < 1 s."""
    ds = DATASETS.get("reddit-binary")(root=real_root("TUDataset/REDDIT-BINARY"), seed=0)
    _check(ds, 2000, 2, 65)
    assert ds.stats["nodes"] == 859254


def test_degree_features_one_hot_and_capped(real_root):
    ds = DATASETS.get("imdb-binary")(root=real_root("TUDataset/IMDB-BINARY"), seed=0, degree_cap=10)
    assert ds.num_features == 11
    g = max(ds.split(0).test, key=lambda g: g.num_nodes)
    deg = torch.bincount(g.edge_index[1], minlength=g.num_nodes)
    assert torch.equal(g.x.sum(dim=1), torch.ones(g.num_nodes))
    assert torch.equal(g.x.argmax(dim=1), deg.clamp(max=10))


def test_degree_features_standardized(real_root):
    ds = DATASETS.get("imdb-binary")(root=real_root("TUDataset/IMDB-BINARY"), seed=0, degree_features="standardized")
    assert ds.num_features == 1
    graphs = ds.split(0).train + ds.split(0).val + ds.split(0).test
    x = torch.cat([g.x for g in graphs]).view(-1)
    deg = torch.cat([torch.bincount(g.edge_index[1], minlength=g.num_nodes) for g in graphs]).float()
    torch.testing.assert_close((x.mean(), x.std()), (torch.tensor(0.0), torch.tensor(1.0)), atol=1e-5, rtol=0)
    assert torch.corrcoef(torch.stack([x, deg]))[0, 1] > 0.9999  # an affine map of the degree


def test_bad_degree_features(tmp_path):
    from dqbench.datasets.paths import DataRoot

    with pytest.raises(DQBenchError, match="degree_features must be one of"):
        DATASETS.get("reddit-binary")(root=DataRoot(tmp_path), seed=0, degree_features="log")


def test_folds_depend_on_seed(real_root):
    root = real_root("TUDataset/MUTAG")
    label = lambda ds: [float(g.x.sum()) for g in ds.split(0).test]  # noqa: E731
    a, b, c = (DATASETS.get("mutag")(root=root, seed=s) for s in (0, 0, 1))
    assert label(a) == label(b) and label(a) != label(c)


def test_folds_stratified(real_root):
    ds = DATASETS.get("enzymes")(root=real_root("TUDataset/ENZYMES"), seed=0)
    for k in (0, 5):
        counts = torch.bincount(torch.cat([g.y for g in ds.split(k).test]), minlength=6)
        assert counts.tolist() == [10] * 6  # 600 graphs, 100 per class


@pytest.mark.parametrize("cap", [0, -3, 2.5, True])
def test_bad_degree_cap(tmp_path, cap):
    from dqbench.datasets.paths import DataRoot

    with pytest.raises(DQBenchError, match="degree_cap"):
        DATASETS.get("imdb-binary")(root=DataRoot(tmp_path), seed=0, degree_cap=cap)
