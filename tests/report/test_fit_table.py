import math

import pandas as pd

from dqbench.report.fit_table import fit_frame, fit_markdown


def _cell(method, bits, train, val, test, best_epoch=10, dataset="reddit-binary"):
    n = len(test)
    return pd.DataFrame({"dataset": dataset, "arch": "gin", "method": method, "bits": bits, "seed": 0,
                         "fold": list(range(n)), "train": train, "val": val, "test": test,
                         "best_epoch": best_epoch})


def test_underfitting_and_worse_generalization_read_apart():
    df = pd.concat([
        _cell("degree_quant", 4, [75.0, 77.0], [74.0, 76.0], [73.0, 75.0], [40, 60]),  # trains badly: underfits
        _cell("fp32", 32, [93.0, 95.0], [90.0, 92.0], [89.0, 91.0]),
        _cell("degree_quant", 8, [94.0, 94.0], [89.0, 89.0], [86.0, 88.0]),  # trains as FP32, loses on test
    ])
    fit = fit_frame(df).set_index(["method", "bits"])
    assert list(fit.index) == [("fp32", 32), ("degree_quant", 8), ("degree_quant", 4)]  # FP32 first, wide bits first
    assert fit.loc[("degree_quant", 4), "train_mean"] == 76.0 and fit.loc[("degree_quant", 4), "gap"] == 2.0
    assert fit.loc[("degree_quant", 8), "train_mean"] == 94.0 and fit.loc[("degree_quant", 8), "gap"] == 7.0
    assert fit.loc[("degree_quant", 8), "train_std"] == 0.0
    assert fit.loc[("degree_quant", 4), "best_epoch"] == 50 and fit.loc[("fp32", 32), "n"] == 2
    md = fit_markdown(fit_frame(df))
    assert md.startswith("## Fit") and "| reddit-binary | gin    | degree_quant | INT4   | 76.00 ± 1.41" in md


def test_one_trial_has_no_spread_and_no_trials_no_section():
    df = _cell("qat", 4, [60.0], [61.0], [59.0], dataset="mutag")
    fit = fit_frame(df)
    assert math.isnan(fit.loc[0, "test_std"])
    md = fit_markdown(fit)
    assert "60.00 ± –" in md and "| +1.00 |" in md
    assert fit_frame(pd.DataFrame()).empty and fit_markdown(fit_frame(pd.DataFrame())) == ""


def test_report_has_the_fit_section_and_csv(tmp_path):
    from dqbench.report.document import write_report
    from dqbench.run.store import RunStore

    store = RunStore(tmp_path)
    store.open("smoke", lambda: {"suite": {"name": "smoke"}})
    for seed, train in enumerate((0.9, 0.7)):
        store.append({"schema": 1, "kind": "accuracy", "status": "ok", "suite": "smoke", "trial_id": f"t{seed}",
                      "metrics": {"test": 0.6, "val": 0.65, "train": train, "best_epoch": 3},
                      "config": {"dataset": "cora", "arch": "gcn", "method": "fp32", "bits": 32, "seed": seed,
                                 "fold": 0}})
    text = write_report(tmp_path).read_text()
    assert "## Fit" in text and "| 80.00 ± 14.14 | 65.00 ± 0.00 | 60.00 ± 0.00 | +20.00 |" in text
    assert pd.read_csv(tmp_path / "fit.csv").loc[0, "train_mean"] == 80.0
