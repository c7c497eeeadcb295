import pytest
import torch

from dqbench.quant.converted import ConvertedModel, QTensor, convert_model, storage_dtype
from dqbench.quant.observers import MinMaxObserver
from dqbench.quant.qparams import QParams
from dqbench.quant.quantizer import FakeQuantize


def _converted() -> ConvertedModel:
    qp4 = QParams.from_range(-1.0, 1.0, 4, True)
    w = QTensor(torch.tensor([[1, -2, 3], [0, 7, -8]], dtype=torch.int8), qp4)
    state = {"convs.0.lin.lin.weight": w.dequantize(), "convs.0.bias": torch.zeros(2),
             "convs.1.lin.lin.weight": torch.ones(4, 2), "bn.num_batches_tracked": torch.tensor(3)}
    return ConvertedModel(arch="gcn", arch_kwargs={}, method="qat", bits=4, float_state=state,
                          weights={"convs.0.lin.lin.weight": w},
                          activations={"convs.0:input": QParams.from_range(0, 1, 4, False)})


def test_size_bytes_packs_weights_at_their_bit_width():
    # 6 weights x 4 bits = 3 bytes + 8 qparams; floats: 2 + 8 = 10 x 4 bytes; 1 activation x 8 bytes
    assert _converted().size_bytes() == 3 + 8 + 40 + 8


def test_avg_bits_is_parameter_weighted():
    assert _converted().avg_bits() == pytest.approx((6 * 4 + 10 * 32) / 16)


def test_bitops_counts_quantized_and_float_linears():
    assert _converted().bitops() == 6 * 4 * 4 + 8 * 32 * 32


def test_qtensor_dequantize():
    qp = QParams(scale=0.5, zero_point=2, bits=4, signed=False)
    assert QTensor(torch.tensor([2, 3, 0], dtype=torch.int8), qp).dequantize().tolist() == [0.0, 0.5, -1.0]


def test_storage_dtype():
    assert storage_dtype(QParams(1.0, 0, 8, True)) == torch.int8
    assert storage_dtype(QParams(1.0, 0, 4, False)) == torch.int8
    assert storage_dtype(QParams(1.0, 0, 8, False)) == torch.uint8


def test_convert_model_reads_weight_and_activation_points():
    """A stand-in model with the QuantGNN quantization API (no arch package needed)."""
    from torch import nn

    class Point:
        def __init__(self, path, role, kind):
            self.path, self.role, self.kind = path, role, kind

    class Lin(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.quant = nn.ModuleDict({"weight": FakeQuantize(4, dynamic=True),
                                        "linear": FakeQuantize(8, observer=MinMaxObserver()),
                                        "aggregate": FakeQuantize(8, observer=MinMaxObserver())})

        @property
        def weight(self):
            return self.lin.weight

    class Model(nn.Module):
        arch_name, arch_kwargs = "toy", {"a": 1}

        def __init__(self):
            super().__init__()
            self.l0 = Lin()

        def quant_points(self):
            return [Point("l0", "weight", "param"), Point("l0", "linear", "node"), Point("l0", "aggregate", "node")]

        def get_quantizer(self, path, role):
            return self.get_submodule(path).quant[role]

    model = Model()
    model.l0.quant["linear"].train()(torch.tensor([-1.0, 2.0]))
    conv = convert_model(model, "qat", 4)
    assert set(conv.weights) == {"l0.lin.weight"}
    assert set(conv.activations) == {"l0:linear"}  # "aggregate" never observed: left out
    w = conv.weights["l0.lin.weight"]
    assert w.values.dtype == torch.int8 and w.qparams.bits == 4
    assert torch.allclose(w.dequantize(), model.l0.quant["weight"](model.l0.lin.weight), atol=1e-7)
    assert not any(".quant." in k for k in conv.float_state)
    assert conv.arch == "toy" and conv.arch_kwargs == {"a": 1}
