import pytest
import torch

from dqbench.datasets.base import LoadedDataset, Split
from dqbench.errors import DQBenchError


def _ds():
    split = Split(data=None, train=[], val=[], test=[])
    return LoadedDataset(name="x", task="graph", metric="accuracy", protocol="10-fold-cv", num_features=3,
                         out_channels=2, num_folds=2, splits=lambda k: split)


def test_split_checks_fold():
    ds = _ds()
    assert isinstance(ds.split(1), Split)
    with pytest.raises(DQBenchError, match="folds 0..1"):
        ds.split(2)


def test_default_loss_and_score_are_cross_entropy_and_accuracy():
    ds = _ds()
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    y = torch.tensor([0, 1, 1])
    assert ds.score(logits, y) == pytest.approx(2 / 3)
    assert float(ds.loss(logits, y)) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)))
