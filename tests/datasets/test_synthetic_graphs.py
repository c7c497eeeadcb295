import pytest
import torch

from dqbench.errors import DQBenchError
from dqbench.registry import DATASETS


def _make(**kw):
    return DATASETS.get("synthetic-graphs")(root=None, **{"seed": 0, **kw})


def test_shape_and_folds():
    ds = _make(num_graphs=60, num_folds=3)
    assert (ds.task, ds.metric, ds.num_folds, ds.num_features, ds.out_channels) == ("graph", "accuracy", 3, 17, 2)
    tested = []
    for k in range(3):
        s = ds.split(k)
        assert len(s.train) + len(s.val) + len(s.test) == 60
        for g in s.test:
            assert 10 <= g.num_nodes <= 40 and g.x.shape == (g.num_nodes, 17)
        tested += [id(g) for g in s.test]
    assert len(set(tested)) == 60


def test_deterministic():
    a, b = _make(graph_seed=3).split(0).test, _make(graph_seed=3).split(0).test
    assert all(torch.equal(x.edge_index, y.edge_index) for x, y in zip(a, b))
    c = _make(graph_seed=4).split(0).test
    assert not all(x.num_nodes == y.num_nodes and torch.equal(x.edge_index, y.edge_index) for x, y in zip(a, c))


def test_bad_sizes():
    with pytest.raises(DQBenchError, match="num_graphs"):
        _make(num_graphs=4, num_folds=3)
