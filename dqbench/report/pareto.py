"""Accuracy against bits: each method cell's mean test score against its average bit width (and BitOPs), the
Pareto front per dataset x arch (no other cell is at least as accurate with at most as many bits, one of the two
strictly), as a table and a scatter plot. No torch import."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from dqbench.report.labels import fmt_bits, fmt_mean_std_n


def pareto_frame(summary: pd.DataFrame, bits_column: str = "avg_bits") -> pd.DataFrame:
    """The cells that have ``bits_column``, with ``front`` True where the cell is on its dataset x arch front."""
    if summary.empty or bits_column not in summary or summary[bits_column].isna().all():
        return pd.DataFrame()
    df = summary[summary[bits_column].notna()].copy()
    front = []
    for _, row in df.iterrows():
        peers = df[(df["dataset"] == row["dataset"]) & (df["arch"] == row["arch"])]
        dominated = ((peers["mean"] >= row["mean"]) & (peers[bits_column] <= row[bits_column])
                     & ((peers["mean"] > row["mean"]) | (peers[bits_column] < row[bits_column]))).any()
        front.append(not dominated)
    df["front"] = front
    return df.sort_values(["dataset", "arch", bits_column]).reset_index(drop=True)


def mixed_precision(frame: pd.DataFrame) -> bool:
    """Whether some quantized cell's activations average another width than its nominal bits (a mixed-precision
    or searched method): the runs whose report gets the front."""
    if "act_avg_bits" not in frame:
        return False
    quantized = frame[(frame["bits"] < 32) & frame["act_avg_bits"].notna()]
    return bool(((quantized["act_avg_bits"] - quantized["bits"]).abs() > 0.01).any())


def pareto_rows(frame: pd.DataFrame) -> list[list[str]]:
    """Rows of the markdown table: cell, score, bits (weights, activations), BitOPs, front, engine."""
    rows = []
    for _, r in frame.iterrows():
        engine = r.get("engine")
        engine = "" if not isinstance(engine, str) else "lowers" if engine == "ok" else f"no: {engine[:90]}"
        rows.append([r["dataset"], r["arch"], r["method"], fmt_bits(r["bits"]),
                     fmt_mean_std_n(r["mean"], r["std"], r["n"]), f"{r['avg_bits']:.2f}",
                     f"{r['act_avg_bits']:.2f}" if pd.notna(r.get("act_avg_bits")) else "",
                     f"{r['bitops'] / 1e6:.3g}" if pd.notna(r.get("bitops")) else "",
                     "yes" if r["front"] else "", engine])
    return rows


PARETO_HEADERS = ["dataset", "arch", "method", "bits", "test", "avg bits (weights)", "avg bits (activations)",
                  "MBitOPs/row", "on the front", "INT8 engine"]


def plot_pareto(summary: pd.DataFrame, path: Path) -> None:
    """Per dataset x arch: test score against average weight bits (left) and BitOPs (right), the front drawn."""
    from dqbench.report.plots import pyplot

    plt = pyplot()
    panels = list(summary[summary["avg_bits"].notna()].groupby(["dataset", "arch"], sort=False))
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 3.6 * len(panels)), squeeze=False)
    for (dataset, arch), group in panels:
        row = axes[[k for k, _ in panels].index((dataset, arch))]
        for ax, column, label in ((row[0], "avg_bits", "average bits (weights, by parameters)"),
                                  (row[1], "bitops", "MBitOPs per row")):
            data = group[group[column].notna()]
            if data.empty:
                ax.axis("off")
                continue
            scale = 1e6 if column == "bitops" else 1.0
            xs = data[column] / scale
            ax.errorbar(xs, data["mean"], yerr=data["std"].fillna(0.0), fmt="o", capsize=2, markersize=4)
            for x, y, name, bits in zip(xs, data["mean"], data["method"], data["bits"]):
                ax.annotate(f"{name} {fmt_bits(bits)}", (x, y), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
            front = pareto_frame(data, column)
            front = front[front["front"]].sort_values(column)
            ax.step(front[column] / scale, front["mean"], where="post", color="tab:red", linewidth=1,
                    label="Pareto front")
            if column == "bitops" and (xs > 0).all() and xs.max() / max(xs.min(), 1e-12) > 20:
                ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("test score (%)")
            ax.set_title(f"{dataset} / {arch}")
            lo = float((data["mean"] - data["std"].fillna(0)).min())
            ax.set_ylim(max(0.0, lo - 5) if not math.isnan(lo) else 0.0, None)
            ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
