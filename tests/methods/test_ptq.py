import pytest
import torch

from dqbench.errors import DQBenchError
from dqbench.methods.ptq import PTQ
from dqbench.quant.observers import MinMaxObserver, PercentileObserver
from dqbench.quant.quantizer import FakeQuantize
from dqbench.registry import ARCHS, METHODS

NUM_FEATURES, NUM_CLASSES = 8, 3  # the shape of conftest.py's tiny graphs


def _model():
    torch.manual_seed(0)
    return ARCHS.get("gcn")(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="node", hidden=16)


def test_registered_and_validates():
    assert METHODS.get("ptq") is PTQ
    with pytest.raises(DQBenchError, match="minmax, percentile"):
        PTQ(observer="entropy")
    with pytest.raises(DQBenchError):
        PTQ(bits=16)


def test_prepare_leaves_model_fp32(node_graph):
    model = PTQ(bits=8).prepare(_model())
    assert not any(isinstance(m, FakeQuantize) for m in model.modules())


def test_calibrate_observes_only_then_freezes(node_graph):
    model = _model().eval()
    with torch.no_grad():
        fp32 = model(node_graph)
    method = PTQ(bits=8)
    method.calibrate(model, [node_graph])
    qs = [m for m in model.modules() if isinstance(m, FakeQuantize)]
    assert len(qs) == len(model.quant_points())
    assert all(q.frozen and not q.calibrating and bool(q.observer.initialized) for q in qs)
    first = model.convs[0].quant["input"]
    assert isinstance(first.observer, MinMaxObserver)
    assert float(first.observer.lo) == float(node_graph.x.min()) and float(first.observer.hi) == float(
        node_graph.x.max())
    assert not model.training
    with torch.no_grad():
        quant = model(node_graph)
    assert not torch.equal(quant, fp32)
    assert torch.allclose(quant, fp32, atol=0.1)  # INT8 stays close
    # frozen: further training-mode passes do not move the ranges
    model.train()
    with torch.no_grad():
        model(node_graph)
    assert float(first.observer.hi) == float(node_graph.x.max())


def test_percentile_calibration_averages_batches(node_graph):
    method = PTQ(bits=4, observer="percentile")
    assert method.tail == 0.01
    model = _model()
    method.calibrate(model, [node_graph, node_graph])
    obs = model.convs[0].quant["input"].observer
    assert isinstance(obs, PercentileObserver) and obs.momentum == "mean"
    assert float(obs.hi) < float(node_graph.x.max())
