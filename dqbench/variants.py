"""Method variants (suite entries with a ``label``, e.g. Degree-Quant with one part switched off) against naive QAT
and against their own method's default entry, at the same dataset, arch and bit width: paired over seeds/folds."""

from __future__ import annotations

import pandas as pd

from dqbench.paired import cell, fmt_interval, paired_diff

REFERENCE = "qat"


def variant_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per variant cell: mean ± std, and its paired difference (mean, 95% interval, n) to ``qat`` and to
    the unlabelled entry of its method. Empty when the run has no labelled variants."""
    if df.empty or "method_name" not in df or not (df["method"] != df["method_name"]).any():
        return pd.DataFrame()
    rows = []
    cells = df.groupby(["dataset", "arch", "method", "bits"], sort=False)
    for (dataset, arch, method, bits), g in cells:
        base = g["method_name"].iloc[0]
        if base in ("fp32", REFERENCE):
            continue
        row = {"dataset": dataset, "arch": arch, "method": method, "bits": bits, "base": base,
               "mean": g["test"].mean(), "std": g["test"].std(), "n": len(g)}
        for name, other in (("qat", REFERENCE), ("base", base)):
            if other == method:
                continue
            d = paired_diff(g, cell(df, dataset, arch, other, bits))
            if d.n:
                row.update({f"vs_{name}": d.mean, f"vs_{name}_lo": d.lo, f"vs_{name}_hi": d.hi})
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["dataset", "arch", "bits"], ascending=[True, True, False], kind="stable")


def variant_rows(variants: pd.DataFrame) -> list[list[str]]:
    """Markdown rows: dataset, arch, bits label, method, test, − qat [CI], − base [CI]."""
    from dqbench.labels import fmt_bits

    def diff(r, name):
        v = r.get(f"vs_{name}")
        if v is None or pd.isna(v):
            return ""
        return f"{v:+.2f} {fmt_interval(r[f'vs_{name}_lo'], r[f'vs_{name}_hi'])}".strip()

    return [[r["dataset"], r["arch"], fmt_bits(r["bits"]), r["method"],
             f"{r['mean']:.2f} ± " + ("–" if pd.isna(r["std"]) else f"{r['std']:.2f}") + f" ({r['n']})",
             diff(r, "qat"), diff(r, "base")] for r in variants.to_dict("records")]
