"""The accuracy-against-bits front: dominance per dataset x arch, when a report shows it, and its plot."""

from __future__ import annotations

import pandas as pd

from dqbench.report.pareto import mixed_precision, pareto_frame, pareto_rows, plot_pareto


def summary():
    rows = [  # dataset, arch, method, bits, mean, std, n, avg_bits, act_avg_bits, bitops, engine
        ("cora", "gcn", "fp32", 32, 81.0, 0.5, 10, 32.0, 32.0, 9e6, None),
        ("cora", "gcn", "qat", 8, 80.0, 0.6, 10, 8.1, 8.0, 2e6, "ok"),
        ("cora", "gcn", "qat", 4, 70.0, 2.0, 10, 4.2, 4.0, 1e6, "ok"),
        ("cora", "gcn", "mixq_l1", 8, 75.0, 1.0, 10, 3.1, 3.5, 0.8e6, "ok"),
        ("cora", "gcn", "a2q", 4, 79.0, 1.0, 10, 4.2, 2.6, 1e6, "op 'convs.0:input' has a step and width per node"),
        ("cora", "gin", "qat", 4, 60.0, 1.0, 10, 4.2, 4.0, 1e6, "ok"),
    ]
    return pd.DataFrame(rows, columns=["dataset", "arch", "method", "bits", "mean", "std", "n", "avg_bits",
                                       "act_avg_bits", "bitops", "engine"])


def test_a_cell_is_on_the_front_unless_another_is_as_good_with_as_few_bits():
    front = pareto_frame(summary()).set_index(["arch", "method", "bits"])["front"]
    assert front[("gcn", "mixq_l1", 8)] and front[("gcn", "a2q", 4)] and front[("gcn", "qat", 8)]
    assert front[("gcn", "fp32", 32)]  # the most accurate
    assert not front[("gcn", "qat", 4)]  # a2q: more accurate at the same weight bits
    assert front[("gin", "qat", 4)]  # alone in its panel


def test_the_front_is_shown_only_for_runs_with_mixed_widths():
    assert mixed_precision(summary())
    uniform = summary()[summary()["method"].isin(["fp32", "qat"])]
    assert not mixed_precision(uniform)


def test_rows_say_whether_the_engine_lowers_each_model(tmp_path):
    rows = {(r[2], r[3]): r for r in pareto_rows(pareto_frame(summary()))}
    assert rows[("qat", "INT8")][-1] == "lowers"
    assert rows[("a2q", "INT4")][-1].startswith("no: op 'convs.0:input' has a step and width per node")
    plot_pareto(summary(), tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0
