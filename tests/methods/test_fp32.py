import pytest

from dqbench.errors import DQBenchError
from dqbench.methods.fp32 import FP32
from dqbench.registry import ARCHS, METHODS

NUM_FEATURES, NUM_CLASSES = 8, 3  # the shape of conftest.py's tiny graphs


def test_fp32_quantizes_nothing(node_graph):
    method = METHODS.get("fp32")()
    assert not method.is_quantized and method.bits == 32
    model = method.prepare(ARCHS.get("gcn")(in_channels=NUM_FEATURES, out_channels=NUM_CLASSES, task="node"))
    assert all(type(model.get_quantizer(p.path, p.role)).__name__ == "Identity" for p in model.quant_points())
    conv = method.convert(model)
    assert conv.bits == 32 and conv.weights == {} and conv.activations == {}
    n_params = sum(p.numel() for p in model.parameters())
    assert conv.avg_bits() == 32.0 and conv.size_bytes() == 4 * n_params
    assert method.transform(node_graph) is node_graph


def test_fp32_rejects_other_bit_widths():
    assert FP32(bits=32).bits == 32
    with pytest.raises(DQBenchError, match="32 bits"):
        FP32(bits=8)
