"""Naive quantization-aware training: every role quantized, straight-through estimator, momentum min/max ranges."""

from dqbench.methods.base import Method, fill_roles, momentum_quantizer, weight_quantizer
from dqbench.registry import METHODS

QAT_MOMENTUM = 0.01  # EMA momentum of the min/max ranges (as the Degree-Quant paper's STE-MOM baseline)


@METHODS.register("qat")
class QAT(Method):
    """Naive QAT: all roles fake-quantized from the first step, STE backward, EMA min/max range tracking
    (weights: their current min/max)."""

    name = "qat"
    version = "1"

    def __init__(self, bits: int = 8, momentum: float = QAT_MOMENTUM, role_bits: dict | None = None):
        super().__init__(bits, role_bits)
        self.momentum = momentum
        momentum_quantizer(self.bits, "node", momentum)  # validates momentum now, not mid-run

    def prepare(self, model):
        fill_roles(model, lambda p: weight_quantizer(self.bits_for(p)) if p.kind == "param"
                   else momentum_quantizer(self.bits_for(p), p.kind, self.momentum))
        return model
