"""dqbench: what low-bit quantization does to graph neural networks — accuracy and real INT8 CPU speed."""

__version__ = "0.1.0"
