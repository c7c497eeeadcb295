"""Degree-Quant's motivation, measured: how the range of aggregation outputs grows with a node's in-degree.

``aggregation_range_by_degree`` runs a model (in eval mode, no gradients) with recorders wrapped around its
``aggregate`` quantization points and returns one row per (layer, node); ``plot_range_vs_degree`` draws it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch_geometric.utils import degree

from dqbench.bits import FP32_BITS
from dqbench.errors import DQBenchError
from dqbench.models import build_method, build_model

COLUMNS = ["layer", "node", "in_degree", "range", "variance", "abs_max"]


class _Capture(nn.Module):
    """Remembers what reaches a role, then hands it to the quantizer that was there (behaviour unchanged)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.seen: list[torch.Tensor] = []

    def forward(self, x, protect=None):
        self.seen.append(x.detach().reshape(x.size(0), -1))
        return self.inner(x, protect)


def _graphs(data) -> list:
    if isinstance(data, (list, tuple)):
        if not data:
            raise DQBenchError("aggregation_range_by_degree needs at least one graph; pass a Data, Batch or list")
        return list(data)
    return [data]


@torch.no_grad()
def aggregation_range_by_degree(model, data) -> pd.DataFrame:
    """Per layer and node: in-degree and the per-node range (max - min over channels), variance and largest
    magnitude of the tensor entering the layer's ``aggregate`` role. ``data``: a Data, a Batch or a list of them
    (node ids then run on across the graphs). Columns: ``COLUMNS``; layers are the points' module paths."""
    points = [p for p in model.quant_points() if p.role == "aggregate"]
    if not points:
        raise DQBenchError(f"{getattr(model, 'arch_name', 'model')} has no 'aggregate' quantization point to record")
    captures = {p.path: _Capture(model.get_quantizer(p.path, p.role)) for p in points}
    was_training = model.training
    degrees = []
    try:
        for path, cap in captures.items():
            model.set_quantizer(path, "aggregate", cap)
        model.eval()
        for g in _graphs(data):
            model(g)
            degrees.append(degree(g.edge_index[1], g.num_nodes, dtype=torch.long))
    finally:
        for path, cap in captures.items():
            model.set_quantizer(path, "aggregate", cap.inner)
        model.train(was_training)
    in_degree = torch.cat(degrees).numpy()
    frames = []
    for path, cap in captures.items():
        a = torch.cat(cap.seen)
        frames.append(pd.DataFrame({
            "layer": path,
            "node": np.arange(a.size(0)),
            "in_degree": in_degree,
            "range": (a.amax(1) - a.amin(1)).numpy(),
            "variance": a.var(1, unbiased=False).numpy(),
            "abs_max": a.abs().amax(1).numpy(),
        }))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def binned_by_degree(df: pd.DataFrame, value: str = "range", bins: int = 12) -> pd.DataFrame:
    """Median and 10/90th percentiles of ``value`` per layer and log-spaced in-degree bin (degree 0 is its own
    bin). Columns: layer, degree_lo, degree_hi, nodes, median, p10, p90."""
    if df.empty:
        raise DQBenchError("no rows to bin; run aggregation_range_by_degree on a graph with nodes first")
    top = max(int(df["in_degree"].max()), 1)
    edges = np.unique(np.concatenate([[0, 1], np.ceil(np.geomspace(1, top + 1, bins + 1))]).astype(int))
    edges[-1] = max(edges[-1], top + 1)
    which = np.searchsorted(edges, df["in_degree"].to_numpy(), side="right") - 1
    rows = []
    for (layer, b), grp in df.assign(_bin=which).groupby(["layer", "_bin"], sort=True):
        vals = grp[value].to_numpy()
        rows.append({"layer": layer, "degree_lo": int(edges[b]), "degree_hi": int(edges[b + 1] - 1),
                     "nodes": len(vals), "median": float(np.median(vals)),
                     "p10": float(np.percentile(vals, 10)), "p90": float(np.percentile(vals, 90))})
    return pd.DataFrame(rows)


def plot_range_vs_degree(df: pd.DataFrame, path, value: str = "range") -> Path:
    """One panel per layer: each node's ``value`` against its in-degree (symlog x: linear below 1, so that
    degree 0 shows), with the binned median and 10-90% band. Written with the Agg canvas (no display needed);
    the format follows the file suffix."""
    if value not in df.columns or "in_degree" not in df.columns:
        raise DQBenchError(f"plot needs columns 'in_degree' and '{value}'; pass aggregation_range_by_degree output")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = list(dict.fromkeys(df["layer"]))
    binned = binned_by_degree(df, value)
    fig = Figure(figsize=(4 * len(layers), 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    for ax, layer in zip(axes, layers):
        part, summary = df[df["layer"] == layer], binned[binned["layer"] == layer]
        ax.scatter(part["in_degree"], part[value], s=4, alpha=0.25, color="tab:blue", rasterized=True, label="nodes")
        mid = (summary["degree_lo"] + summary["degree_hi"]) / 2
        ax.fill_between(mid, summary["p10"], summary["p90"], color="tab:orange", alpha=0.25, label="10-90%")
        ax.plot(mid, summary["median"], "o-", color="tab:orange", ms=3, label="median")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.set_title(layer)
        ax.set_xlabel("in-degree")
        ax.set_ylabel(f"aggregation output {value}")
    axes[0].legend(loc="upper left", fontsize="small")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out


def main_analyze(args, root) -> int:
    """``dqbench analyze``: train each arch in FP32 on the dataset, then record aggregation ranges by in-degree."""
    from tabulate import tabulate

    from dqbench.registry import DATASETS
    from dqbench.run.suite import TRAIN_DEFAULTS
    from dqbench.run.train import fit, seed_everything

    dataset = DATASETS.get(args.dataset)(root=root, seed=args.seed)
    if dataset.task != "node":
        raise DQBenchError(f"analyze needs a node-classification dataset; '{args.dataset}' is a {dataset.task} task")
    split = dataset.split(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Aggregation-output range against in-degree: {args.dataset}", "",
             f"Produced by: `dqbench analyze --dataset {args.dataset} --epochs {args.epochs} --seed {args.seed}` "
             "(FP32 models; per node, range = max - min over channels of the aggregation output).", ""]
    for arch in args.arch or ["gcn", "gin", "gat"]:
        seed_everything(args.seed)
        config = {"arch_name": arch, "method_name": "fp32", "bits": FP32_BITS}
        model = build_model(config, dataset)
        fit(model, dataset, split, build_method(config), {**TRAIN_DEFAULTS, "epochs": args.epochs}, args.seed)
        df = aggregation_range_by_degree(model, split.data)
        df.to_csv(out / f"range_by_degree_{arch}.csv", index=False)
        plot_range_vs_degree(df, out / f"range_vs_degree_{arch}.png")
        binned = binned_by_degree(df)
        lines += [f"## {arch}", "", tabulate(binned, headers="keys", tablefmt="github", showindex=False,
                                               floatfmt=".3g"), "", f"![{arch}](range_vs_degree_{arch}.png)", ""]
        print(f"{arch}: {out / f'range_vs_degree_{arch}.png'}")
    (out / "report.md").write_text("\n".join(lines))
    print(f"report: {out / 'report.md'}")
    return 0
