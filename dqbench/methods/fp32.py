"""FP32: the full-precision reference; nothing is quantized."""

from dqbench.errors import DQBenchError
from dqbench.methods.base import Method
from dqbench.quant.converted import FP32_BITS
from dqbench.registry import METHODS


@METHODS.register("fp32")
class FP32(Method):
    """Full precision (no quantization); the reference every quantized method is compared with."""

    name = "fp32"
    version = "1"

    def __init__(self, bits: int = FP32_BITS):
        if bits != FP32_BITS:
            raise DQBenchError(f"method 'fp32' runs at {FP32_BITS} bits, got bits={bits!r}; remove the bits option")
        self.bits = FP32_BITS

    @property
    def is_quantized(self) -> bool:
        return False
