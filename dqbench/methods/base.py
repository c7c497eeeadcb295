"""The method lifecycle shared by every quantization method: transform -> prepare -> (train) -> calibrate -> convert."""

from __future__ import annotations

from torch import nn

from dqbench.quant.converted import FP32_BITS, ConvertedModel, convert_model
from dqbench.quant.observers import MomentumObserver, Observer
from dqbench.quant.qparams import check_bits
from dqbench.quant.quantizer import FakeQuantize


class Method:
    """Base class: every hook is a no-op; ``convert`` freezes whatever quantizers the model holds."""

    name = "?"

    def __init__(self, bits: int = 8):
        self.bits = check_bits(bits)

    @property
    def is_quantized(self) -> bool:
        return True

    def transform(self, data):
        """Per-graph data transform applied once before training."""
        return data

    def prepare(self, model):
        """Fill the model's roles with quantizers before training."""
        return model

    def calibrate(self, model, batches) -> None:
        """Post-training calibration (PTQ)."""

    def convert(self, model) -> ConvertedModel:
        return convert_model(model, self.name, self.bits if self.is_quantized else FP32_BITS)


def signed_for(kind: str) -> bool:
    """Edge-kind points (GCN edge weights, attention coefficients) are non-negative: unsigned codes."""
    return kind != "edge"


def fill_roles(model, make: callable) -> None:
    """Install ``make(point)`` at every quantization point of ``model``."""
    for point in model.quant_points():
        model.set_quantizer(point.path, point.role, make(point))


def weight_quantizer(bits: int, backward: str = "ste") -> nn.Module:
    """Weights: the current tensor's min/max, signed."""
    return FakeQuantize(bits, signed=True, observer=Observer(), backward=backward)


def momentum_quantizer(bits: int, kind: str, momentum: float, backward: str = "ste") -> nn.Module:
    return FakeQuantize(bits, signed=signed_for(kind), observer=MomentumObserver(momentum), backward=backward)
