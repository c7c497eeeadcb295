import math

import pandas as pd
import pytest
from scipy import stats

from dqbench.report.paired import fmt_interval, paired_columns, paired_diff, select


def _frame(method, scores, seeds=None, bits=4):
    seeds = range(len(scores)) if seeds is None else seeds
    return pd.DataFrame({"dataset": "cora", "arch": "gcn", "method": method, "bits": bits, "seed": list(seeds),
                         "fold": 0, "test": scores})


def test_interval_is_the_paired_t_interval():
    a, b = _frame("dq", [80.0, 78.0, 83.0, 79.0]), _frame("qat", [70.0, 71.0, 72.0, 69.0])
    r = paired_diff(a, b)
    d = [10.0, 7.0, 11.0, 10.0]
    half = stats.t.ppf(0.975, 3) * pd.Series(d).std() / 2
    assert r.n == 4 and r.mean == pytest.approx(9.5)
    assert (r.lo, r.hi) == (pytest.approx(9.5 - half), pytest.approx(9.5 + half))
    # the same result as scipy's paired t-test: the interval excludes 0 exactly when p < 0.05
    assert stats.ttest_rel(a["test"], b["test"]).pvalue < 0.05 and r.lo > 0


def test_pairing_removes_shared_seed_effects():
    # the seeds spread by 10 points, but a beats b by exactly 1 on each: a narrow interval around +1
    a, b = _frame("dq", [61.0, 71.0, 81.0]), _frame("qat", [60.0, 70.0, 80.0])
    r = paired_diff(a, b)
    assert r.mean == pytest.approx(1.0) and r.hi - r.lo == pytest.approx(0.0)


def test_only_matched_seeds_count():
    a, b = _frame("dq", [80.0, 82.0, 90.0], seeds=[0, 1, 2]), _frame("qat", [70.0, 71.0], seeds=[0, 1])
    r = paired_diff(a, b)
    assert r.n == 2 and r.mean == pytest.approx(10.5)


def test_too_few_units_leave_the_interval_undefined():
    r = paired_diff(_frame("dq", [80.0]), _frame("qat", [70.0]))
    assert r.n == 1 and r.mean == 10.0 and math.isnan(r.lo) and fmt_interval(r.lo, r.hi) == ""
    assert paired_diff(_frame("dq", [80.0], seeds=[3]), _frame("qat", [70.0])).n == 0


def test_select_picks_one_cell():
    df = pd.concat([_frame("dq", [1.0, 2.0]), _frame("dq", [3.0], bits=8), _frame("fp32", [4.0], bits=32)])
    assert list(select(df, dataset="cora", arch="gcn", method="dq", bits=4)["test"]) == [1.0, 2.0]
    assert list(select(df, dataset="cora", arch="gcn", method="fp32")["test"]) == [4.0]
    assert fmt_interval(-3.5712, 1.3) == "[-3.57, +1.30]"


def test_paired_columns():
    d = paired_diff(_frame("dq", [80.0, 82.0]), _frame("qat", [70.0, 71.0]))
    cols = paired_columns("gain", [d, None], [3, 2])
    assert cols["gain_n"] == [2, 0] and cols["gain_partial"] == [True, False]
    assert cols["gain_lo"][0] == pytest.approx(d.lo) and math.isnan(cols["gain_hi"][1])
