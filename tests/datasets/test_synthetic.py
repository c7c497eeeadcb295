import time

import pytest
import torch

from dqbench.errors import DQBenchError
from dqbench.registry import DATASETS


def _make(**kw):
    return DATASETS.get("synthetic")(root=None, seed=0, **kw)


def test_sizes_and_split():
    ds = _make(num_nodes=500, avg_degree=8, num_features=12, num_classes=5)
    assert (ds.task, ds.metric, ds.protocol, ds.num_folds) == ("node", "accuracy", "random-split", 1)
    s = ds.split(0)
    d = s.data
    assert d.x.shape == (500, 12) and ds.num_features == 12 and ds.out_channels == 5
    assert 0.85 * 4000 <= d.num_edges <= 4000
    assert [int(m.sum()) for m in (s.train, s.val, s.test)] == [300, 100, 100]
    assert int((s.train.int() + s.val.int() + s.test.int()).max()) == 1
    assert set(d.y.tolist()) <= set(range(5)) and len(set(d.y.tolist())) >= 3


def test_coalesced_undirected_no_self_loops():
    from torch_geometric.utils import is_undirected

    ei = _make(num_nodes=300).split(0).data.edge_index
    assert is_undirected(ei) and not (ei[0] == ei[1]).any()
    key = ei[0] * 300 + ei[1]
    assert key.unique().numel() == key.numel() and torch.equal(key, key.sort().values)


def test_deterministic_per_graph_seed():
    a, b, c = _make(graph_seed=1).split(0), _make(graph_seed=1).split(0), _make(graph_seed=2).split(0)
    assert torch.equal(a.data.edge_index, b.data.edge_index) and torch.equal(a.data.x, b.data.x)
    assert torch.equal(a.train, b.train) and torch.equal(a.data.y, b.data.y)
    assert not torch.equal(a.data.x, c.data.x) and not torch.equal(a.train, c.train)


def test_power_law_degrees():
    d = _make(num_nodes=5000, avg_degree=10).split(0).data
    deg = torch.bincount(d.edge_index[0], minlength=5000).float()
    assert deg.max() > 20 * deg.mean()
    assert torch.median(deg) < deg.mean()  # heavy right tail


def test_labels_are_learnable():
    """Labels are a linear function of (x + neighbour mean of x): a linear model on it fits the test nodes well."""
    from sklearn.linear_model import LogisticRegression
    from torch_geometric.utils import scatter

    s = _make(num_nodes=1500, num_features=8, num_classes=3).split(0)
    d = s.data
    feats = d.x + scatter(d.x[d.edge_index[0]], d.edge_index[1], dim=0, dim_size=d.num_nodes, reduce="mean")
    clf = LogisticRegression(max_iter=2000).fit(feats[s.train].numpy(), d.y[s.train].numpy())
    assert clf.score(feats[s.test].numpy(), d.y[s.test].numpy()) > 0.85


def test_large_graph_is_fast():
    start = time.monotonic()
    d = _make(num_nodes=170_000, avg_degree=15, num_features=64).split(0).data
    assert time.monotonic() - start < 20
    assert 2_300_000 <= d.num_edges <= 2_550_000


@pytest.mark.parametrize("kw", [{"num_nodes": 1}, {"num_classes": 1}, {"avg_degree": 0}, {"num_features": 2.5}])
def test_bad_sizes(kw):
    with pytest.raises(DQBenchError, match="synthetic"):
        _make(**kw)
