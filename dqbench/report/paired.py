"""Paired differences between two cells of a run (same dataset and arch): the mean over the seeds/folds both cells
ran, with a two-sided 95% Student-t interval. Pairing removes what a seed or fold shares between methods (split,
initialisation, hard test fold), so the interval is often much narrower than the two stds suggest."""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd
from scipy import stats

UNIT = ["seed", "fold"]
LEVEL = 0.95


class PairedDiff(NamedTuple):
    mean: float   # mean of a - b over matched units (points)
    lo: float     # 95% interval; NaN when fewer than 2 matched units
    hi: float
    n: int        # matched units


def paired_diff(a: pd.DataFrame, b: pd.DataFrame, column: str = "test") -> PairedDiff:
    """``a``/``b``: accuracy-frame rows of one cell each. Units that only one side ran are left out."""
    both = a.set_index(UNIT)[column].groupby(level=UNIT).mean().to_frame("a").join(
        b.set_index(UNIT)[column].groupby(level=UNIT).mean().to_frame("b"), how="inner")
    n = len(both)
    if n == 0:
        return PairedDiff(math.nan, math.nan, math.nan, 0)
    d = both["a"] - both["b"]
    mean = float(d.mean())
    if n < 2:
        return PairedDiff(mean, math.nan, math.nan, n)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
    return PairedDiff(mean, mean - half, mean + half, n)


def select(df: pd.DataFrame, **key) -> pd.DataFrame:
    """The trials whose columns equal ``key`` (e.g. one cell: dataset, arch, method, bits; leave out ``bits`` for
    any bit width, e.g. the FP32 control)."""
    rows = pd.Series(True, index=df.index)
    for column, value in key.items():
        rows &= df[column] == value
    return df[rows]


def paired_columns(prefix: str, diffs: list[PairedDiff | None], ran: list[int]) -> dict[str, list]:
    """Columns ``{prefix}_n/_lo/_hi/_partial`` for a frame with one paired difference per row (None: no
    comparison); ``ran`` is the most seeds/folds either side of each row ran, so ``_partial`` marks rows whose
    difference covers fewer."""
    return {f"{prefix}_n": [d.n if d else 0 for d in diffs],
            f"{prefix}_lo": [d.lo if d else math.nan for d in diffs],
            f"{prefix}_hi": [d.hi if d else math.nan for d in diffs],
            f"{prefix}_partial": [d is not None and d.n < r for d, r in zip(diffs, ran)]}


def fmt_interval(lo: float, hi: float) -> str:
    """``[-3.57, +1.31]``, or empty when undefined (fewer than two matched seeds/folds)."""
    if math.isnan(lo) or math.isnan(hi):
        return ""
    return f"[{lo:+.2f}, {hi:+.2f}]"
