"""The decision rule in dqbench.compare.stats."""

import numpy as np
import pytest

from dqbench.compare.stats import judge_accuracy, judge_latency

TOL, ALPHA = 0.01, 0.05


def units(values):
    return {(s, 0): v for s, v in enumerate(values)}


def test_within_tolerance_is_same_without_a_test():
    v = judge_accuracy(units([0.80, 0.81]), units([0.795, 0.805]), TOL, ALPHA)
    assert (v.mark, v.p, v.rule) == ("same", None, "within tolerance")
    assert v.effect == pytest.approx(-0.005)


def test_exactly_at_tolerance_is_same():
    assert judge_accuracy(units([0.80] * 3), units([0.79] * 3), TOL, ALPHA).mark == "same"


def test_few_samples_tolerance_alone_decides():
    v = judge_accuracy(units([0.80, 0.82]), units([0.77, 0.80]), TOL, ALPHA)
    assert v.mark == "worse" and v.p is None and v.rule == "tolerance only (n<3)"
    v = judge_latency([0.01, 0.011], [0.02, 0.021], 0.1, ALPHA)
    assert v.mark == "worse" and v.rule == "tolerance only (n<3)"


def test_deterministic_shift_decided_by_tolerance():
    base = units([0.80, 0.70, 0.75, 0.9])
    v = judge_accuracy(base, {u: s - 0.02 for u, s in base.items()}, TOL, ALPHA)
    assert v.mark == "worse" and v.rule == "tolerance only (deterministic)"
    v = judge_latency([0.01] * 5, [0.005] * 5, 0.1, ALPHA)
    assert v.mark == "better" and v.rule == "tolerance only (deterministic)"


def test_paired_test_when_seeds_match_welch_otherwise():
    base = units([0.80, 0.70, 0.75, 0.90, 0.85])
    drop = units([0.77, 0.68, 0.73, 0.86, 0.84])
    v = judge_accuracy(base, drop, TOL, ALPHA)
    assert v.mark == "worse" and v.rule == "paired t-test" and v.p < ALPHA
    shifted = {(s + 10, 0): x for (s, _), x in drop.items()}
    v = judge_accuracy(base, shifted, TOL, ALPHA)  # seeds differ: unpaired, seed variance swamps the drop
    assert v.mark == "same" and v.rule.startswith("Welch t-test") and v.p >= ALPHA


def test_improvement_is_better():
    base = units([0.50, 0.52, 0.49, 0.51])
    v = judge_accuracy(base, {u: x + 0.03 + 0.001 * u[0] for u, x in base.items()}, TOL, ALPHA)
    assert v.mark == "better" and v.p < ALPHA


def test_latency_mann_whitney_both_directions():
    rng = np.random.default_rng(0)
    base = list(0.010 * (1 + 0.02 * rng.random(20)))
    slow = [1.5 * x for x in base]
    v = judge_latency(base, slow, 0.1, ALPHA)
    assert v.mark == "worse" and v.rule == "Mann-Whitney U" and v.p < 1e-4
    assert v.effect == pytest.approx(0.5)
    assert judge_latency(slow, base, 0.1, ALPHA).mark == "better"
    assert judge_latency(base, [1.05 * x for x in base], 0.1, ALPHA).mark == "same"


def test_latency_overlapping_samples_not_significant():
    base = [0.010, 0.030, 0.011, 0.029, 0.012, 0.028]
    run = [0.013, 0.031, 0.014, 0.030, 0.015, 0.029]  # median +10% but the distributions overlap
    v = judge_latency(base, run, 0.05, ALPHA)
    assert v.effect == pytest.approx(0.1)
    assert v.mark == "same" and v.p >= ALPHA and "not significant" in v.rule
