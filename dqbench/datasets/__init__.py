"""Built-in datasets, each loaded through its library's own class (PyG Planetoid/TUDataset, ogb)."""

from dqbench.datasets import ogb, planetoid, synthetic, synthetic_graphs, tu  # noqa: F401  (registers)
