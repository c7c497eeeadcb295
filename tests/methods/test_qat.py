import pytest
import torch

from dqbench.errors import DQBenchError
from dqbench.methods.qat import QAT
from dqbench.quant.observers import MomentumObserver, Observer
from dqbench.registry import ARCHS, METHODS

NUM_FEATURES, NUM_CLASSES = 8, 3  # the shape of conftest.py's tiny graphs


@pytest.mark.parametrize("arch", ["gcn", "gat", "gin"])
def test_every_role_quantized_with_documented_signedness(arch):
    if arch not in ARCHS:
        pytest.skip(f"arch '{arch}' not registered")
    model = QAT(bits=4).prepare(ARCHS.get(arch)(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="graph"))
    assert model.protector is None
    for p in model.quant_points():
        q = model.get_quantizer(p.path, p.role)
        assert q.bits == 4 and q.backward == "ste"
        if p.kind == "param":
            assert q.signed and q.dynamic and type(q.observer) is Observer
        else:
            assert q.signed == (p.kind != "edge")
            assert type(q.observer) is MomentumObserver and q.observer.momentum == 0.01


def test_registered_and_validates():
    assert METHODS.get("qat") is QAT
    with pytest.raises(DQBenchError):
        QAT(bits=0)
    with pytest.raises(DQBenchError, match="momentum"):
        QAT(momentum=2.0)


def test_weights_quantized_with_their_current_range(node_graph):
    model = QAT(bits=2).prepare(ARCHS.get("gcn")(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="node"))
    model.eval()
    with torch.no_grad():
        model(node_graph)
    lin = model.convs[0].lin
    q = lin.quant["weight"]
    assert float(q.observer.hi) == float(lin.weight.max())
    assert len(torch.unique(q(lin.weight))) <= 4
