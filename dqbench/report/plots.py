"""Report plots (matplotlib, Agg): accuracy by method and bit width, and Degree-Quant's gain over naive QAT."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from dqbench.report.labels import fmt_bits, method_rank


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(summary: pd.DataFrame, path: Path) -> None:
    """Grouped bars of test score by method and bit width, one panel per dataset x arch, with std error bars."""
    plt = pyplot()
    summary = summary.assign(std=summary["std"].fillna(0.0))  # n = 1: no error bar
    panels = list(summary.groupby(["dataset", "arch"], sort=False))
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.4 * rows), squeeze=False)
    methods = sorted(summary["method"].unique(), key=method_rank)
    bits = sorted(summary["bits"].unique(), reverse=True)
    width = 0.8 / max(len(methods), 1)
    for ax, ((dataset, arch), group) in zip(axes.flat, panels):
        for i, method in enumerate(methods):
            sub = group[group["method"] == method].set_index("bits")
            xs = [j + i * width for j, b in enumerate(bits) if b in sub.index]
            ys = [sub.loc[b, "mean"] for b in bits if b in sub.index]
            es = [sub.loc[b, "std"] for b in bits if b in sub.index]
            if xs:
                ax.bar(xs, ys, width, yerr=es, capsize=2, label=method)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(bits))], [fmt_bits(b) for b in bits])
        ax.set_title(f"{dataset} / {arch}")
        ax.set_ylabel("test score (%)")
        lo = max(0.0, float((group["mean"] - group["std"]).min()) - 5)
        ax.set_ylim(lo, min(100.0, float((group["mean"] + group["std"]).max()) + 3))
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gains(gain: pd.DataFrame, path: Path) -> None:
    """Bars of Degree-Quant minus naive QAT (points) per dataset / arch, one bar per bit width, with the paired
    95% interval as error bars where the gain frame has one."""
    plt = pyplot()
    cells = list(dict.fromkeys(zip(gain["dataset"], gain["arch"])))
    bits = sorted(gain["bits"].unique(), reverse=True)
    width = 0.8 / max(len(bits), 1)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(cells) + 1.5), 3.4))
    for i, b in enumerate(bits):
        sub = gain[gain["bits"] == b].set_index(["dataset", "arch"])
        here = [c for c in cells if c in sub.index]
        xs = [j + i * width for j, c in enumerate(cells) if c in sub.index]
        ys = [sub.loc[c, "gain"] for c in here]
        err = None
        if "gain_lo" in sub:  # asymmetric bars from the interval; NaN (n < 2) draws none
            err = [[y - sub.loc[c, "gain_lo"] for c, y in zip(here, ys)],
                   [sub.loc[c, "gain_hi"] - y for c, y in zip(here, ys)]]
        ax.bar(xs, ys, width, label=fmt_bits(b), yerr=err, capsize=2, error_kw={"linewidth": 0.8})
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cells))], [f"{d}\n{a}" for d, a in cells], fontsize=8)
    ax.set_ylabel("degree_quant − qat (points)\nbars: paired 95% CI", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
