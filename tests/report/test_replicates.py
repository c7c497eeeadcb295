import math
import subprocess
import sys

import pandas as pd

from dqbench.report.labels import MAX_REPLICATES
from dqbench.report.replicates import replicate_markdown, replicate_tables


def _cell(method, bits, folds, scores, dataset="reddit-binary", seed=0):
    return pd.DataFrame({"dataset": dataset, "arch": "gin", "method": method, "bits": bits, "seed": seed,
                         "fold": folds, "test": scores})


def test_partial_cross_validation_fold_by_fold():
    df = pd.concat([_cell("fp32", 32, [0, 1], [88.0, 90.0]), _cell("qat", 4, [0, 1, 2], [74.0, 75.0, 58.0]),
                    _cell("degree_quant", 4, [2, 0], [74.0, 85.0])])
    t = replicate_tables(df)[("reddit-binary", "gin")]
    assert list(t.columns) == ["fp32", "qat INT4", "degree_quant INT4"]  # FP32 first, as in the accuracy table
    assert list(t.index) == ["fold 0", "fold 1", "fold 2", "mean"]
    assert t.loc["fold 2", "degree_quant INT4"] == 74.0 and math.isnan(t.loc["fold 1", "degree_quant INT4"])
    assert t.loc["mean", "qat INT4"] == 69.0 and t.loc["mean", "degree_quant INT4"] == 79.5  # over what each ran
    md = replicate_markdown(df)
    assert "**reddit-binary, gin**" in md and "| fold 1 | 90.00  | 75.00      | –" in md


def test_seeds_named_as_seeds_and_many_replicates_left_to_the_summary():
    seeds = pd.concat([_cell("fp32", 32, 0, [76.0], dataset="ogbg-molhiv", seed=s) for s in (0, 1)])
    assert list(replicate_tables(seeds)[("ogbg-molhiv", "gin")].index) == ["seed 0", "seed 1", "mean"]
    ten = _cell("fp32", 32, list(range(10)), [80.0] * 10)
    one = _cell("fp32", 32, [0], [80.0], dataset="mutag")
    assert replicate_tables(pd.concat([ten, one])) == {} and replicate_markdown(pd.concat([ten, one])) == ""
    assert replicate_markdown(pd.DataFrame()) == ""


def test_report_replicates_option_widens_the_per_seed_tables(tmp_path, capsys):
    from dqbench.cli import main
    from dqbench.report.document import write_report
    from dqbench.run.store import RunStore

    store = RunStore(tmp_path)
    store.open("smoke", lambda: {"suite": {"name": "smoke"}})
    for seed in range(7):
        store.append({"schema": 1, "kind": "accuracy", "status": "ok", "suite": "smoke",
                      "trial_id": f"t{seed}", "metrics": {"test": 0.7 + seed / 100, "val": 0.7, "train": 0.8},
                      "config": {"dataset": "ogbg-molhiv", "arch": "gin", "method": "fp32", "bits": 32, "seed": seed,
                          "fold": 0}})
    assert "Per seed/fold" not in write_report(tmp_path).read_text()  # 7 seeds: more than the default 5
    assert main(["report", str(tmp_path), "--replicates", "10"]) == 0
    assert "| seed 6 | 76.00" in (tmp_path / "report.md").read_text()
    assert main(["report", str(tmp_path), "--replicates", "-1"]) == 2
    assert "--replicates -1" in capsys.readouterr().err


def test_report_help_states_the_default_without_loading_pandas():
    code = ("import sys; from dqbench.cli import build_parser; "
            "assert 'pandas' not in sys.modules, 'the parser imported pandas'; "
            "build_parser().parse_args(['report', '--help'])")  # prints the help, exits 0
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert f"(default {MAX_REPLICATES})" in " ".join(out.split())
