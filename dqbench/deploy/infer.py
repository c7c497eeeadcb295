"""``dqbench infer MODEL GRAPH``: run an exported integer program on a graph file and write its predictions."""

from __future__ import annotations

from pathlib import Path

import torch

from dqbench.deploy.graph_file import check_graph, normalise, read_graph
from dqbench.engine import load


def infer(model: str | Path, graph: str | Path, out: str | Path | None = None, backend: str = "auto",
          threads: int | None = None) -> dict:
    """Logits and predicted classes of ``graph`` under the program in ``model``, written to ``out`` (.npz, default
    GRAPH's name + .predictions.npz): ``logits`` [rows, classes] float32 and ``pred`` [rows] int64."""
    import numpy as np

    prog = load(model, backend=backend)
    data = read_graph(graph)
    check_graph(data, prog.contract, graph)
    data = normalise(data)
    with torch.no_grad():
        logits = prog.execute(data.x, prog.prepare(data), threads=threads)
    out = Path(out) if out else Path(graph).with_suffix(".predictions.npz")
    np.savez(out, logits=logits.numpy(), pred=logits.argmax(dim=-1).numpy())
    return {"out": out, "rows": int(logits.size(0)), "backend": prog.backend, "logits": logits}
