"""Integer inference engine: lower a ConvertedModel to an INT8 program and run it on real integer CPU kernels
(AVX-512 VNNI / AVX2 / scalar, chosen at run time) or the bit-identical PyTorch path (``DQBENCH_ENGINE=torch``)."""

from dqbench.engine.artifact import load
from dqbench.engine.errors import LoweringError
from dqbench.engine.lower import lower
from dqbench.engine.program import IntProgram

__all__ = ["IntProgram", "LoweringError", "load", "lower"]
