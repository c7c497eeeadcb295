"""Built-in quantization methods (one per file)."""

from dqbench.methods import a2q, degree_quant, fp32, lsq, mixq, ptq, qat  # noqa: F401  (registers)
from dqbench.methods.base import Method

__all__ = ["Method"]
