"""How well each cell fits: training, validation and test score side by side, with the epoch model selection kept.

A quantized cell below FP32 on test can be underfitting (its training score is low too: quantization keeps it from
learning) or generalizing worse (it trains as well as FP32 and loses only on held-out data). The test column alone
cannot tell these apart; this table can."""

from __future__ import annotations

import pandas as pd

from dqbench.report.labels import CELL_KEYS as KEYS
from dqbench.report.labels import fmt_bits, fmt_mean_std, method_rank


def fit_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × arch × method × bits: mean and std of train, val and test scores, the mean train − test gap,
    the median selected epoch and n. ``df``: the report's trial frame (scores in percent)."""
    if df.empty or not {"train", "val", "test"} <= set(df.columns):
        return pd.DataFrame()
    g = df.groupby(KEYS, sort=False)
    out = pd.concat([g[c].agg(["mean", "std"]).add_prefix(f"{c}_") for c in ("train", "val", "test")], axis=1)
    out["gap"] = (df["train"] - df["test"]).groupby([df[k] for k in KEYS], sort=False).mean()
    out["best_epoch"] = g["best_epoch"].median() if "best_epoch" in df.columns else float("nan")
    out["n"] = g["test"].count()
    out = out.reset_index()
    out["_order"] = out["method"].map(method_rank)
    return out.sort_values(["dataset", "arch", "_order", "method", "bits"],
                           ascending=[True, True, True, True, False]).drop(columns="_order").reset_index(drop=True)


def fit_markdown(fit: pd.DataFrame) -> str:
    """The report's fit section from ``fit_frame``'s table ("" when it is empty)."""
    from tabulate import tabulate

    if fit.empty:
        return ""
    rows = [[r.dataset, r.arch, r.method, fmt_bits(r.bits), fmt_mean_std(r.train_mean, r.train_std),
             fmt_mean_std(r.val_mean, r.val_std), fmt_mean_std(r.test_mean, r.test_std), f"{r.gap:+.2f}",
             "" if pd.isna(r.best_epoch) else f"{r.best_epoch:g}", str(int(r.n))] for r in fit.itertuples()]
    return ("## Fit: training, validation and test score (%), mean ± std\n\n"
            "Scores of the selected model (the epoch model selection kept). A quantized cell whose training score "
            "is below FP32's underfits; one that trains as well as FP32 but scores lower on test generalizes "
            "worse. Gap: mean of train − test over the trials.\n\n"
            + tabulate(rows, headers=["dataset", "arch", "method", "bits", "train", "val", "test", "gap",
                                      "selected epoch (median)", "n"], tablefmt="github", disable_numparse=True))
