"""Graph files for ``dqbench infer``: a PyG ``Data`` saved with ``torch.save`` (``.pt``), or arrays in ``.npz``
(``x`` [N, F] float, ``edge_index`` [2, E] int, optional ``batch`` [N] int), checked against a program's input
contract."""

from __future__ import annotations

from pathlib import Path

import torch

from dqbench.errors import DQBenchError


def read_graph(path: str | Path):
    """The graph in ``path`` as a PyG ``Data`` (``.pt`` loads with ``weights_only``: no code runs)."""
    from torch_geometric.data import Data

    path = Path(path)
    if not path.is_file():
        raise DQBenchError(f"{path}: no such graph file; give a .pt (torch.save of a PyG Data) or an .npz")
    if path.suffix == ".npz":
        import numpy as np

        try:
            arrays = dict(np.load(path, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise DQBenchError(f"{path} is not a readable .npz ({_brief(exc)})") from None
        missing = [k for k in ("x", "edge_index") if k not in arrays]
        if missing:
            raise DQBenchError(f"{path} lacks {', '.join(missing)}; an .npz graph holds x [N, F], edge_index [2, E] "
                               "and, for graph tasks, batch [N]")
        data = Data(**{k: torch.from_numpy(v) for k, v in arrays.items() if k in ("x", "edge_index", "batch")})
    elif path.suffix == ".pt":
        data = _load_pt(path)
    else:
        raise DQBenchError(f"{path}: unknown graph file type '{path.suffix}'; give a .pt or an .npz")
    return data


def check_graph(data, contract: dict, path) -> None:
    """Refuse a graph that does not meet the program's input contract, in one line."""
    x, ei = getattr(data, "x", None), getattr(data, "edge_index", None)
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise DQBenchError(f"{path}: x must be a float tensor [num_nodes, num_features]")
    if x.size(1) != contract["num_features"]:
        raise DQBenchError(f"{path}: {x.size(1)} features per node; the model takes {contract['num_features']}")
    if not isinstance(ei, torch.Tensor) or ei.dim() != 2 or ei.size(0) != 2 or ei.is_floating_point():
        raise DQBenchError(f"{path}: edge_index must be an integer tensor [2, num_edges]")
    n = x.size(0)
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n):
        raise DQBenchError(f"{path}: edge_index names nodes outside 0..{n - 1}")
    batch = getattr(data, "batch", None)
    if batch is not None and (batch.dim() != 1 or batch.numel() != n or batch.is_floating_point()
                              or (n and int(batch.min()) < 0)):
        raise DQBenchError(f"{path}: batch must be an integer tensor [num_nodes] of graph indices from 0")


def normalise(data):
    """float32 features, int64 edges and batch, as the engine takes them."""
    data.x = data.x.float().contiguous()
    data.edge_index = data.edge_index.long()
    if getattr(data, "batch", None) is not None:
        data.batch = data.batch.long()
    return data


def _load_pt(path: Path):
    from torch_geometric.data import Data
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    # Not the safe_globals context: leaving it removes the classes from the allow-list for everyone (PyG
    # allow-lists Data at import, datasets rely on it). These are PyG's plain containers: allow-list them for good.
    torch.serialization.add_safe_globals([Data, DataEdgeAttr, DataTensorAttr, GlobalStorage])
    try:
        data = torch.load(path, weights_only=True)
    except Exception as exc:  # any failure to read a user's file is that file's fault: say so in one line
        raise DQBenchError(f"{path} is not a readable PyG Data file ({_brief(exc)}); save one with "
                           "torch.save(data, path) or give an .npz") from None
    if not isinstance(data, Data):
        raise DQBenchError(f"{path} holds a {type(data).__name__}, not a PyG Data")
    return data


def _brief(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__
