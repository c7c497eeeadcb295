"""FP32: the full-precision reference; nothing is quantized."""

from dqbench.methods.base import Method
from dqbench.registry import METHODS


@METHODS.register("fp32")
class FP32(Method):
    """Full precision (no quantization); the reference every quantized method is compared with."""

    name = "fp32"

    def __init__(self):
        self.bits = 32

    @property
    def is_quantized(self) -> bool:
        return False
