"""Per-graph structures an IntProgram needs: CSR adjacency in destination order, GCN's quantized normalised
edge weights (one code set per layer, they depend only on the graph), GAT's self-looped edge list, and the
pooling CSR of graph tasks."""

from __future__ import annotations

import torch

from dqbench.archs.base import with_one_self_loop
from dqbench.engine.kernels import Csr, quantize_torch
from dqbench.errors import DQBenchError


def edge_codes(w: torch.Tensor, qp, what: str) -> torch.Tensor:
    """Quantized non-negative edge weights as uint8 (code - zero point)."""
    codes = quantize_torch(w, qp) - qp.zero_point
    if codes.numel() and (codes.min() < 0 or codes.max() > 255):
        raise DQBenchError(f"{what}: edge weight codes outside 0..255 (zero point {qp.zero_point}); "
                           "the engine needs non-negative edge weights")
    return codes.to(torch.uint8)


def gcn_csr(edge_index: torch.Tensor, n: int) -> tuple[Csr, torch.Tensor]:
    """GCN's self-looped adjacency in CSR and its float normalised edge weights in CSR order."""
    from dqbench.archs.gcn import gcn_norm_weights

    ei, w = gcn_norm_weights(edge_index, n)
    csr, perm = Csr.from_edges(ei[0], ei[1], n)
    return csr, w[perm]


def gat_csr(edge_index: torch.Tensor, n: int) -> tuple[Csr, torch.Tensor]:
    """GAT's adjacency with one self loop per node in CSR, and perm: the model's edge order -> CSR order."""
    src, dst = with_one_self_loop(edge_index, n)
    return Csr.from_edges(src, dst, n)


def prepare_graph(spec: dict, data) -> dict:
    n = int(data.num_nodes) if data.num_nodes is not None else data.x.size(0)
    edge_index = data.edge_index
    out: dict = {}
    if "gcn" in spec:
        csr, w = gcn_csr(edge_index, n)
        for key, qp in spec["gcn"].items():
            out[key] = csr.with_weights(edge_codes(w, qp, key))
    if spec.get("edges"):
        out["edges"], _ = Csr.from_edges(edge_index[0], edge_index[1], n)
    if spec.get("gat"):
        csr, perm = gat_csr(edge_index, n)
        out["gat"] = {"csr": csr, "perm": perm}  # perm: edge order (the model's) -> CSR order
    if spec.get("pool"):
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros(n, dtype=torch.long)
        num_graphs = int(data.num_graphs) if hasattr(data, "num_graphs") and data.num_graphs else int(batch.max()) + 1
        out["pool"], _ = Csr.from_edges(torch.arange(n), batch, num_graphs)
        out["pool_count"] = torch.bincount(batch, minlength=num_graphs).clamp(min=1).float()
    return out
