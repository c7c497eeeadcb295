"""`dqbench compare` / `dqbench baseline update` through dqbench.cli.main: exit status, report, CSV."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from compare_builders import REPO_ROOT, acc, accuracy_records, lat, latency_records

from dqbench.cli import main


def compare(capsys, run, bl, out=None):
    argv = ["compare", str(run), "--baseline", str(bl)] + (["--out", str(out)] if out else [])
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def rows(run_dir, **where):
    df = pd.read_csv(run_dir / "compare.csv")
    for k, v in where.items():
        df = df[df[k] == v]
    return df


def test_identical_run_passes_and_writes_report(runs, baseline, capsys, tmp_path):
    recs = accuracy_records() + latency_records()
    bl = baseline(recs)
    run = runs("run", recs)
    rc, out, _ = compare(capsys, run, bl, tmp_path / "out")
    assert rc == 0
    assert ": OK" in out and "REGRESSION" not in out
    assert (tmp_path / "out" / "compare.md").read_text().strip() in out
    df = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert set(df["mark"]) == {"same"}
    assert len(df) == 3 + 2 * 4  # 3 accuracy configs, 2 latency configs x 4 controls


def test_accuracy_drop_on_several_seeds_fails_and_names_config(runs, baseline, capsys):
    bl = baseline(accuracy_records())
    recs = accuracy_records()
    for r in recs:  # qat int4 loses 6 points on seeds 0-3, seed 4 unchanged
        if r["config"]["method"] == "qat" and r["config"]["seed"] < 4:
            r["metrics"]["test"] -= 0.06
    run = runs("run", recs)
    rc, out, _ = compare(capsys, run, bl)
    assert rc == 1
    assert "REGRESSION" in out
    worse = rows(run, mark="worse")
    assert list(worse["trial"]) == ["cora/gcn/qat/int4"]
    assert worse.iloc[0]["change"] == pytest.approx(-0.048)
    assert worse.iloc[0]["p_value"] < 0.05 and worse.iloc[0]["rule"] == "paired t-test"
    assert "| worse  | accuracy | cora/gcn/qat/int4" in out
    assert set(rows(run, kind="accuracy")["mark"]) == {"worse", "same"}


def test_noise_beyond_tolerance_but_not_significant_is_same(runs, baseline, capsys):
    bl = baseline(accuracy_records())
    recs = accuracy_records()
    for r in recs:  # one seed falls a lot: mean -0.02, but 4 of 5 seeds unchanged
        if r["config"]["method"] == "qat" and r["config"]["seed"] == 0:
            r["metrics"]["test"] -= 0.10
    run = runs("run", recs)
    rc, _, _ = compare(capsys, run, bl)
    assert rc == 0
    row = rows(run, trial="cora/gcn/qat/int4").iloc[0]
    assert row["mark"] == "same" and row["p_value"] >= 0.05 and "not significant" in row["rule"]


def test_slowed_kernel_on_same_machine_fails_and_names_it(runs, baseline, capsys):
    bl = baseline(latency_records())
    run = runs("run", latency_records(scale={"int8": 1.5}))
    rc, out, _ = compare(capsys, run, bl)
    assert rc == 1
    worse = rows(run, mark="worse")
    assert sorted(worse["trial"]) == ["cora/gcn/degree_quant/int8/t1", "cora/gcn/qat/int8/t1"]
    assert set(worse["metric"]) == {"int8"}
    assert (worse["change"] > 0.4).all() and (worse["rule"] == "Mann-Whitney U").all()
    assert "int8" in out and "+5" in out  # "+50.x%" style change
    assert set(rows(run, metric="pyg")["mark"]) == {"same"}


def test_slower_pyg_reference_control_warns_of_a_noisy_machine(runs, baseline, capsys):
    bl = baseline(latency_records())
    rc, out, _ = compare(capsys, runs("run", latency_records(scale={"pyg": 2.0})), bl)
    assert rc == 1  # still reported as worse: the measuring harness is dqbench code
    assert "PyG reference control(s) moved" in out and "+100%" in out
    rc, out, _ = compare(capsys, runs("run2", latency_records(scale={"int8": 2.0})), bl)
    assert rc == 1 and "reference control" not in out


def test_slowed_kernel_on_other_machine_is_not_comparable(runs, baseline, capsys):
    bl = baseline(accuracy_records() + latency_records(), machine_id="m1")
    run = runs("run", accuracy_records() + latency_records(scale={"int8": 1.5}), machine_id="m2")
    rc, out, _ = compare(capsys, run, bl)
    assert rc == 0
    assert set(rows(run, kind="latency")["mark"]) == {"not comparable"}
    assert set(rows(run, kind="accuracy")["mark"]) == {"same"}  # accuracy compares across machines
    assert "no baseline for machine `m2`" in out and "not comparable" in out


def test_same_machine_baseline_preferred(runs, baseline, capsys):
    baseline(accuracy_records() + latency_records(), machine_id="m1")
    bl = baseline(accuracy_records() + latency_records(scale={"int8": 1.5}), machine_id="m2")
    run = runs("run", accuracy_records() + latency_records(), machine_id="m1")
    rc, out, _ = compare(capsys, run, bl)
    assert rc == 0 and set(rows(run)["mark"]) == {"same"}
    assert "bl/m1" in out
    run2 = runs("run2", accuracy_records() + latency_records(), machine_id="m2")
    rc, _, _ = compare(capsys, run2, bl)
    assert rc == 0 and set(rows(run2, mark="better")["metric"]) == {"int8"}  # vs m2's slower baseline


def test_improvement_beyond_tolerance_is_flagged(runs, baseline, capsys):
    bl = baseline(accuracy_records() + latency_records())
    run = runs("run", accuracy_records(shift={("degree_quant", 4): 0.05}) + latency_records(scale={"int8": 0.5}))
    rc, out, _ = compare(capsys, run, bl)
    assert rc == 0
    better = rows(run, mark="better")
    assert set(better["trial"]) == {"cora/gcn/degree_quant/int4", "cora/gcn/qat/int8/t1",
                                    "cora/gcn/degree_quant/int8/t1"}
    assert "### Needs attention" in out and "re-baseline" in out


def test_newly_failing_and_fixed(runs, baseline, capsys):
    bl = baseline(accuracy_records() + [acc("ptq", 4, 0, 0, status="failed")])
    recs = [acc("qat", 4, r["config"]["seed"], 0, status="failed") if r["config"]["method"] == "qat"
            and r["config"]["seed"] == 2 else r for r in accuracy_records()] + [acc("ptq", 4, 0, 0.4)]
    run = runs("run", recs)
    rc, out, _ = compare(capsys, run, bl)
    assert rc == 1
    newly = rows(run, mark="newly failing").iloc[0]
    assert newly["trial"] == "cora/gcn/qat/int4" and "seed 2" in newly["note"] and "boom" in newly["note"]
    assert list(rows(run, mark="fixed")["trial"]) == ["cora/gcn/ptq/int4"]
    assert "newly failing" in out


def test_latency_newly_skipped_counts_as_failing(runs, baseline, capsys):
    bl = baseline(latency_records())
    recs = latency_records()
    recs[0] = lat("qat", 8, 0, {}, status="skipped")
    run = runs("run", recs)
    rc, _, _ = compare(capsys, run, bl)
    assert rc == 1
    assert list(rows(run, mark="newly failing")["trial"]) == ["cora/gcn/qat/int8/t1"]


def test_dropped_latency_control_is_missing_only_on_the_same_machine(runs, baseline, capsys):
    bl = baseline(latency_records())
    recs = latency_records()
    for r in recs:
        del r["samples"]["pyg"]
    run = runs("run", recs)
    assert compare(capsys, run, bl)[0] == 1
    assert set(rows(run, mark="missing")["metric"]) == {"pyg"}
    other = runs("other", recs, machine_id="m2")
    assert compare(capsys, other, bl)[0] == 0
    assert set(rows(other)["mark"]) == {"not comparable"}


def test_missing_fails_new_passes(runs, baseline, capsys):
    recs = accuracy_records()
    bl = baseline(recs)
    run = runs("run", [r for r in recs if r["config"]["method"] != "fp32"])
    assert compare(capsys, run, bl)[0] == 1
    assert list(rows(run, mark="missing")["trial"]) == ["cora/gcn/fp32/fp32"]
    run2 = runs("run2", recs + [acc("qat", 8, s, 0.8) for s in range(3)])
    assert compare(capsys, run2, bl)[0] == 0
    assert list(rows(run2, mark="new")["trial"]) == ["cora/gcn/qat/int8"]


def test_changed_settings_are_missing_plus_new_with_a_hint(runs, baseline, capsys):
    bl = baseline([acc("qat", 4, s, 0.5) for s in range(3)])
    run = runs("run", [acc("qat", 4, s, 0.5, train={"epochs": 50}) for s in range(3)])
    rc, _, _ = compare(capsys, run, bl)
    assert rc == 1
    missing = rows(run, mark="missing").iloc[0]
    assert "train.epochs" in missing["note"] and "re-baseline" in missing["note"]
    assert len(rows(run, mark="new")) == 1


def test_tolerance_from_the_suite_compare_table(runs, baseline, capsys, tmp_path):
    suite = tmp_path / "loose.toml"
    suite.write_text('name = "t"\n[[datasets]]\nname = "cora"\n[compare]\naccuracy_tolerance = 0.1\n')
    bl = baseline(accuracy_records())
    drop = accuracy_records(shift={("qat", 4): -0.05})
    assert compare(capsys, runs("strict", drop), bl)[0] == 1  # default tolerance 0.01
    rc, out, _ = compare(capsys, runs("loose", drop, suite_path=str(suite)), bl)
    assert rc == 0 and "accuracy ±0.1 " in out and str(suite) in out


def test_bad_compare_table_is_one_line_error(runs, baseline, capsys, tmp_path):
    suite = tmp_path / "bad.toml"
    suite.write_text('[compare]\naccuracy_tolerence = 0.1\n')
    bl = baseline(accuracy_records())
    rc, _, err = compare(capsys, runs("run", accuracy_records(), suite_path=str(suite)), bl)
    assert rc == 2 and "did you mean 'accuracy_tolerance'" in err and err.count("\n") == 1


def test_version_rules(runs, baseline, capsys):
    recs = accuracy_records() + latency_records()
    bl = baseline(recs)
    run = runs("torch", recs, packages={"torch": "2.14.0"})
    rc, out, _ = compare(capsys, run, bl)
    assert rc == 0
    assert set(rows(run, kind="accuracy")["mark"]) == {"same"}  # accuracy: torch differences only warn
    assert set(rows(run, kind="latency")["mark"]) == {"not comparable"}
    assert "torch 2.13.0+cpu in baseline, 2.14.0 now: accuracy compared anyway" in out
    run2 = runs("dq", accuracy_records(shift={("qat", 4): -0.2}), packages={"dqbench": "0.2.0"})
    rc, out, _ = compare(capsys, run2, bl)
    assert rc == 1  # nothing comparable, and the latency configurations are missing
    assert set(rows(run2, kind="accuracy")["mark"]) == {"not comparable"}
    assert "dqbench 0.1.0 in baseline, 0.2.0 now" in out


def test_method_version_change_is_not_comparable(runs, baseline, capsys):
    bl = baseline([{**acc("qat", 4, s, 0.5), "method_version": "1"} for s in range(3)])
    run = runs("run", [{**acc("qat", 4, s, 0.3), "method_version": "2"} for s in range(3)])
    assert compare(capsys, run, bl)[0] == 0
    assert rows(run).iloc[0]["mark"] == "not comparable" and "method version" in rows(run).iloc[0]["note"]


def test_baseline_update_default_dir_and_replace(runs, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = runs("run", accuracy_records(), machine_id="abc")
    assert main(["baseline", "update", str(run)]) == 0
    target = tmp_path / "baselines" / "t" / "abc"
    assert "15 records (15 accuracy, 0 latency)" in capsys.readouterr().out
    info = json.loads((target / "run.json").read_text())
    assert info["environment"]["machine_id"] == "abc" and info["baseline"]["source"] == str(run)
    run2 = runs("run2", accuracy_records()[:3], machine_id="abc")
    assert main(["baseline", "update", str(run2)]) == 0  # replaces, never merges
    assert len((target / "trials.jsonl").read_text().splitlines()) == 3


def one_line_error(capsys, argv, match):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("dqbench: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert match in err, err


def test_bad_inputs_exit_2_with_one_line(runs, baseline, capsys, tmp_path):
    run = runs("run", accuracy_records())
    one_line_error(capsys, ["compare", str(run), "--baseline", str(tmp_path / "nope")], "not found")
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, ["compare", str(run), "--baseline", str(tmp_path / "empty")], "no baseline records")
    runs("empty2/m1", [])
    one_line_error(capsys, ["compare", str(run), "--baseline", str(tmp_path / "empty2")], "no trial records")
    bl = baseline(accuracy_records())
    one_line_error(capsys, ["compare", str(runs("norecs", [])), "--baseline", str(bl)], "no trial records")
    one_line_error(capsys, ["compare", str(tmp_path / "absent"), "--baseline", str(bl)], "not found")
    other = runs("other", [dict(r, suite="smoke") for r in accuracy_records()], suite="smoke")
    one_line_error(capsys, ["compare", str(other), "--baseline", str(bl)], "suite 't', but the run is of suite 'smoke'")
    one_line_error(capsys, ["baseline", "update", str(other), "--baseline", str(bl)], "holds suite 't', not 'smoke'")
    one_line_error(capsys, ["baseline", "update", str(runs("norecs2", []))], "no trial records")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{not json")
    one_line_error(capsys, ["compare", str(tmp_path / "bad"), "--baseline", str(bl)], "corrupt")
    one_line_error(capsys, ["compare", str(run)], "--baseline")


def test_compare_does_not_import_torch(runs, baseline):
    bl = baseline(accuracy_records())
    run = runs("run", accuracy_records())
    code = ("import sys; from dqbench.cli import main; rc = main(['compare', sys.argv[1], '--baseline', sys.argv[2]]); "
            "assert 'torch' not in sys.modules, 'compare imported torch'; sys.exit(rc)")
    subprocess.run([sys.executable, "-c", code, str(run), str(bl)], check=True, cwd=REPO_ROOT,
                   capture_output=True)


def test_identical_says_how_many_records_match_and_exits_1_on_a_difference(runs, capsys):
    same = runs("a", accuracy_records())
    timed = [{**r, "metrics": {**r["metrics"], "train_time_s": 9.0}} for r in accuracy_records()]
    assert main(["compare", str(same), str(runs("b", timed)), "--identical"]) == 0
    assert "identical (all metrics but timings): 15 of 15" in capsys.readouterr().out
    moved = accuracy_records(shift={("qat", 4): 0.01})
    assert main(["compare", str(same), str(runs("c", moved)), "--identical"]) == 1
    out = capsys.readouterr().out
    assert "identical (all metrics but timings): 10 of 15" in out and out.count("  differs: ") == 5


@pytest.mark.parametrize("argv", [["--identical"], [], ["--baseline", "x", "--identical"]])
def test_identical_needs_two_runs_and_baseline_needs_one(runs, capsys, argv):
    run = runs("a", accuracy_records())
    assert main(["compare", str(run), *argv]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_records_from_before_method_versions_are_compared(runs, baseline, capsys):
    bl = baseline([acc("qat", 4, s, 0.5) for s in range(3)])
    run = runs("run", [{**acc("qat", 4, s, 0.5), "method_version": "1"} for s in range(3)])
    assert compare(capsys, run, bl)[0] == 0
    assert rows(run).iloc[0]["mark"] == "same"


def test_a_metric_only_newer_records_hold_is_listed_not_a_difference(runs, capsys):
    old = runs("a", accuracy_records())
    newer = [{**r, "metrics": {**r["metrics"], "act_avg_bits": 8.0}} for r in accuracy_records()]
    assert main(["compare", str(old), str(runs("b", newer)), "--identical"]) == 0
    out = capsys.readouterr().out
    assert "15 of 15" in out and "metrics only one run's records hold (not compared): act_avg_bits" in out
    empty = [{**r, "metrics": {}} for r in accuracy_records()]
    assert main(["compare", str(old), str(runs("c", empty)), "--identical"]) == 1
