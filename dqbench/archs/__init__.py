"""Built-in architectures, built from quantization-aware layers with named roles."""

from dqbench.archs import gat, gcn, gin  # noqa: F401  (registers)
