"""The decision rule: a change is ``worse``/``better`` only if it is beyond tolerance AND, where the samples allow a
test, statistically significant.

1. Effect: accuracy — difference of mean test scores (absolute, scores in [0, 1]); latency — relative change of
   the median time. Within ``tolerance`` -> ``same``.
2. Tolerance alone decides when a test is meaningless: fewer than 3 samples on either side, or samples that carry
   no noise (accuracy: every seed/fold moved by exactly the same amount, e.g. a deterministic trainer; latency:
   both sides constant).
3. Otherwise a one-sided test in the direction of the change, at level ``alpha``: accuracy — paired t-test over
   matching seeds/folds (Welch's t-test when the seeds/folds differ); latency — Mann–Whitney U, as asv does.
   Not significant -> ``same`` (with the p-value in the note).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_TEST_SAMPLES = 3
NOISE_FLOOR = 1e-9  # score differences below this are float rounding, not noise


@dataclass
class Verdict:
    mark: str            # "same" | "worse" | "better"
    effect: float        # accuracy: run - baseline (mean); latency: run / baseline - 1 (median)
    p: float | None      # one-sided p-value, None when tolerance alone decided
    rule: str            # which rule decided


def _direction(effect: float, tol: float, higher_is_better: bool) -> str:
    if abs(effect) <= tol or math.isnan(effect):
        return "same"
    improved = effect > 0 if higher_is_better else effect < 0
    return "better" if improved else "worse"


def judge_accuracy(base: dict, run: dict, tol: float, alpha: float) -> Verdict:
    """``base``/``run`` map (seed, fold) -> test score."""
    b, r = np.array(list(base.values()), float), np.array(list(run.values()), float)
    effect = float(r.mean() - b.mean())
    mark = _direction(effect, tol + 1e-12, higher_is_better=True)
    if mark == "same":
        return Verdict("same", effect, None, "within tolerance")
    if min(len(b), len(r)) < MIN_TEST_SAMPLES:
        return Verdict(mark, effect, None, f"tolerance only (n<{MIN_TEST_SAMPLES})")
    alternative = "greater" if mark == "better" else "less"
    units = sorted(set(base) & set(run))
    if set(base) == set(run):
        diffs = np.array([run[u] - base[u] for u in units])
        if np.ptp(diffs) <= NOISE_FLOOR:
            return Verdict(mark, effect, None, "tolerance only (deterministic)")
        p = stats.ttest_rel([run[u] for u in units], [base[u] for u in units], alternative=alternative).pvalue
        rule = "paired t-test"
    else:
        if np.ptp(b) <= NOISE_FLOOR and np.ptp(r) <= NOISE_FLOOR:
            return Verdict(mark, effect, None, "tolerance only (deterministic)")
        p = stats.ttest_ind(r, b, equal_var=False, alternative=alternative).pvalue
        rule = "Welch t-test"
    return _significant(mark, effect, float(p), alpha, rule)


def judge_latency(base: list[float], run: list[float], tol: float, alpha: float) -> Verdict:
    """Raw latency samples in seconds; effect on the median."""
    b, r = np.asarray(base, float), np.asarray(run, float)
    mb = float(np.median(b))
    effect = float(np.median(r) / mb - 1) if mb > 0 else math.nan
    mark = _direction(effect, tol + 1e-12, higher_is_better=False)
    if mark == "same":
        return Verdict("same", effect, None, "within tolerance")
    if min(len(b), len(r)) < MIN_TEST_SAMPLES:
        return Verdict(mark, effect, None, f"tolerance only (n<{MIN_TEST_SAMPLES})")
    if np.ptp(b) <= NOISE_FLOOR * mb and np.ptp(r) <= NOISE_FLOOR * mb:
        return Verdict(mark, effect, None, "tolerance only (deterministic)")
    alternative = "greater" if mark == "worse" else "less"
    p = stats.mannwhitneyu(r, b, alternative=alternative).pvalue
    return _significant(mark, effect, float(p), alpha, "Mann-Whitney U")


def _significant(mark: str, effect: float, p: float, alpha: float, rule: str) -> Verdict:
    if p < alpha:
        return Verdict(mark, effect, p, rule)
    return Verdict("same", effect, p, f"{rule}: {mark} beyond tolerance but not significant")
