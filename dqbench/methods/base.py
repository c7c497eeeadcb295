"""The lifecycle shared by every quantization method: transform -> prepare -> (train) -> calibrate -> convert,
and the quantizer recipes the built-in methods share.

Signedness (a simple, documented choice): weights are signed; activations are signed, except at edge-kind
points (GCN's normalised edge weights, GAT's attention coefficients), which are non-negative by construction and
use unsigned codes.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from dqbench.quant.converted import FP32_BITS, ConvertedModel, convert_model
from dqbench.quant.observers import MomentumObserver, Observer
from dqbench.quant.qparams import check_bits
from dqbench.quant.quantizer import FakeQuantize
from dqbench.quant.role_bits import bits_for, check_role_bits


class Method:
    """Base class: every hook is a no-op; ``convert`` freezes whatever quantizers the model holds."""

    name = "?"
    version = "1"  # raise it when a change alters what the method trains or converts: compare says "not comparable"

    def __init__(self, bits: int = 8, role_bits: dict | None = None):
        self.bits = check_bits(bits)
        self.role_bits = check_role_bits(role_bits)

    def bits_for(self, point) -> int:
        """The width at quantization point ``point``: ``role_bits``' entry for it or its role, else ``bits``."""
        return bits_for(self.role_bits, self.bits, point.path, point.role)

    @property
    def is_quantized(self) -> bool:
        return True

    def transform(self, data):
        """Per-graph data transform applied once before training (returns the data to train on)."""
        return data

    def prepare(self, model):
        """Fill the model's roles with quantizers before training."""
        return model

    def calibrate(self, model, batches) -> None:
        """Post-training calibration (PTQ); a no-op for the others."""

    def convert(self, model) -> ConvertedModel:
        """The frozen description of the trained model for the integer engine."""
        return convert_model(model, self.name, self.bits if self.is_quantized else FP32_BITS)

    def penalty(self, model):
        """A term added to the training loss (a memory or size penalty), or None."""
        return None

    def end_epoch(self, model, epoch: int, epochs: int) -> None:
        """Called after each training epoch (e.g. to end a search phase)."""

    def selectable(self, epoch: int, epochs: int) -> bool:
        """Whether the model after ``epoch`` may be kept by model selection (False during a search phase)."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.bits})"


def signed_for(kind: str) -> bool:
    """Edge-kind points (GCN edge weights, attention coefficients) are non-negative: unsigned codes."""
    return kind != "edge"


def fill_roles(model, make: Callable) -> None:
    """Install ``make(point)`` at every quantization point of ``model``."""
    for point in model.quant_points():
        model.set_quantizer(point.path, point.role, make(point))


def weight_quantizer(bits: int, backward: str = "ste") -> FakeQuantize:
    """Weights: signed, the current weight tensor's min/max (re-observed at every forward, also in eval)."""
    return FakeQuantize(bits, signed=True, observer=Observer(), backward=backward, dynamic=True)


def activation_quantizer(bits: int, kind: str, observer: nn.Module, backward: str = "ste") -> FakeQuantize:
    return FakeQuantize(bits, signed=signed_for(kind), observer=observer, backward=backward)


def momentum_quantizer(bits: int, kind: str, momentum: float, backward: str = "ste") -> FakeQuantize:
    """Activations with an EMA of min/max (naive QAT)."""
    return activation_quantizer(bits, kind, MomentumObserver(momentum), backward)


def quantizers(model) -> list[FakeQuantize]:
    return [m for m in model.modules() if isinstance(m, FakeQuantize)]
