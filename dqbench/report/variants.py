"""Variants (suite entries with a ``label``: Degree-Quant with one part switched off, GIN with more dropout, Cora
with normalized features) against their own entry without a label, everything else equal; method variants also
against naive QAT at the same bit width, trained with the same settings where the run has such a QAT entry (a
Degree-Quant variant with another learning rate against QAT at that learning rate). Differences are paired over
seeds/folds."""

from __future__ import annotations

import pandas as pd

from dqbench.report.labels import CELL_KEYS as CELL
from dqbench.report.labels import fmt_bits, fmt_mean_std_n
from dqbench.report.paired import fmt_interval, paired_diff, select

REFERENCE = "qat"
AXES = ("dataset", "arch", "method")


def variant_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell with a labelled variant: which axis varies, mean ± std, and the paired difference (mean,
    95% interval) to its default entry (``vs_base``) and, for methods (labelled ones also where the dataset or arch
    varies too), to ``qat`` (``vs_qat``). Method cells whose method has variants also get a row (their ``vs_qat``
    only). Empty when the run has no labelled variants."""
    if df.empty or not any(f"{a}_name" in df and (df[a] != df[f"{a}_name"]).any() for a in AXES):
        return pd.DataFrame()
    varied = {a: set(df.loc[df[a] != df[f"{a}_name"], f"{a}_name"]) for a in AXES if f"{a}_name" in df}
    rows = []
    for key, g in df.groupby(CELL, sort=False):
        key = dict(zip(CELL, key))
        labelled = [a for a in AXES if g[a].iloc[0] != g[f"{a}_name"].iloc[0]]
        axis = labelled[0] if labelled else None
        if axis is None and key["method"] not in varied.get("method", ()) - {"fp32", REFERENCE}:
            continue
        row = {**key, "varies": axis or "method", "mean": g["test"].mean(), "std": g["test"].std(), "n": len(g)}
        refs = []
        if axis is not None:
            refs.append(("base", {**key, axis: g[f"{axis}_name"].iloc[0]}))
        if (axis is None or "method" in labelled) and g["method_name"].iloc[0] not in ("fp32", REFERENCE):
            qat = _qat_reference(df, key, g)
            refs.append(("qat", {**key, "method": qat}))
            if qat != REFERENCE:
                row["qat_ref"] = qat
        for name, ref in refs:
            d = paired_diff(g, select(df, **ref))
            if d.n:
                row.update({f"vs_{name}": d.mean, f"vs_{name}_lo": d.lo, f"vs_{name}_hi": d.hi})
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values(["dataset", "arch", "bits"], ascending=[True, True, False], kind="stable")


def _qat_reference(df: pd.DataFrame, key: dict, cell: pd.DataFrame) -> str:
    """The QAT entry (plain ``qat`` first, then labelled ones) of the same dataset, arch and bits whose training
    settings equal the cell's; plain ``qat`` when none does or the run has no settings column."""
    if "train_settings" not in df:
        return REFERENCE
    settings = set(cell["train_settings"])
    peers = select(df, dataset=key["dataset"], arch=key["arch"], bits=key["bits"], method_name=REFERENCE)
    same = [m for m, p in peers.groupby("method", sort=False) if set(p["train_settings"]) == settings]
    return REFERENCE if not same or REFERENCE in same else same[0]


def variant_rows(variants: pd.DataFrame) -> list[list[str]]:
    """Markdown rows: dataset, arch, method, bits label, test, − its default [CI], − qat [CI]."""

    def diff(r, name):
        v = r.get(f"vs_{name}")
        if v is None or pd.isna(v):
            return ""
        return f"{v:+.2f} {fmt_interval(r[f'vs_{name}_lo'], r[f'vs_{name}_hi'])}".strip()

    def against_qat(r):
        ref = r.get("qat_ref")
        text = diff(r, "qat")
        return f"{text} (`{ref}`)" if text and isinstance(ref, str) else text

    return [[r["dataset"], r["arch"], r["method"], fmt_bits(r["bits"]),
             fmt_mean_std_n(r["mean"], r["std"], r["n"]),
             diff(r, "base"), against_qat(r)] for r in variants.to_dict("records")]
