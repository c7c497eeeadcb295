"""run_suite: reusing finished trials from another run directory (`--reuse`), worker processes (`--jobs`)."""

import json
from pathlib import Path

import pytest

from dqbench.cli import main
from dqbench.errors import DQBenchError
from dqbench.run.runner import run_suite
from dqbench.run.store import RunStore
from dqbench.run.suite import load_suite


def _records(run_dir):
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def _run(suite, out, data_root, **kwargs):
    return run_suite(suite, out, data_root, progress=False, log=lambda *_: None, **kwargs)


def test_reuse_copies_same_trials_and_runs_the_rest(tmp_path, data_root):
    suite = load_suite("smoke")
    first = tmp_path / "first"
    _run(suite, first, data_root, filters={"method": ["fp32"], "arch": ["gcn"]})
    source = {r["trial_id"]: r for r in _records(first)}
    assert len(source) == 2

    second = tmp_path / "second"
    summary = _run(suite, second, data_root, filters={"method": ["fp32", "ptq"], "arch": ["gcn"]}, reuse=[first],
                   command="dqbench run smoke --reuse first")
    assert (summary.reused, summary.ran) == (2, 4)
    records = {r["trial_id"]: r for r in _records(second)}
    assert len(records) == 6
    for trial_id, original in source.items():
        copy = records[trial_id]
        assert copy["reused_from"] == str(first) and copy["metrics"] == original["metrics"]
        assert copy["config"] == original["config"] and copy["suite"] == "smoke"
    assert all("reused_from" not in r for r in records.values() if r["config"]["method"] == "ptq")
    (piece,) = RunStore(second).pieces()
    assert (piece["to_run"], piece["reused"]) == (4, 2)
    assert (piece["outcome"], piece["ran"], piece["failed"]) == ("finished", 4, 0)

    # resuming with the same --reuse copies nothing twice
    again = _run(suite, second, data_root, filters={"method": ["fp32", "ptq"], "arch": ["gcn"]}, reuse=[first])
    assert (again.reused, again.ran, again.skipped) == (0, 0, 6)
    assert len(_records(second)) == 6


def test_reuse_never_copies_a_different_configuration_or_a_failed_trial(tmp_path, data_root):
    suite = load_suite("smoke")
    first = tmp_path / "first"
    _run(suite, first, data_root, filters={"method": ["fp32"], "arch": ["gcn"]}, quick=True)  # 2 epochs
    lines = (first / "trials.jsonl").read_text().splitlines()
    failed = json.loads(lines[0])
    failed.update(status="failed", error="boom", metrics={})
    (first / "trials.jsonl").write_text("\n".join(lines + [json.dumps(failed)]) + "\n")

    summary = _run(suite, tmp_path / "second", data_root, filters={"method": ["fp32"], "arch": ["gcn"], "seed": [0]},
                   reuse=[first])
    assert (summary.reused, summary.ran) == (0, 1)  # 30-epoch trial: a different id from the quick one

    quick = _run(suite, tmp_path / "third", data_root, filters={"method": ["fp32"], "arch": ["gcn"]}, quick=True,
                 reuse=[first])
    assert (quick.reused, quick.ran) == (0, 1)  # the same trial, but its record there is a failure


def test_reuse_of_a_missing_directory_is_a_one_line_error(tmp_path, data_root, capsys):
    args = ["run", "smoke", "--out", str(tmp_path / "run"), "--no-progress", "--cache", str(data_root.cache),
            "--reuse", str(tmp_path / "nowhere")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--reuse" in err and "run directory" in err
    assert not (tmp_path / "run").exists()


def test_plan_with_reuse_says_how_many_trials_would_be_copied(tmp_path, data_root, capsys):
    first = tmp_path / "first"
    _run(load_suite("smoke"), first, data_root, filters={"method": ["fp32"], "arch": ["gcn"]})
    out = tmp_path / "second"
    args = ["run", "smoke", "--plan", "--out", str(out), "--cache", str(data_root.cache), "--arch", "gcn",
            "--method", "fp32", "--method", "ptq", "--reuse", str(first)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "--reuse: 2 of the 6 trials to run would be copied, not trained (no training time counted for them); " \
        "4 would be trained" in printed
    assert not out.exists()  # planning copies nothing
    assert main([*args[:-1], str(tmp_path / "nowhere")]) == 2
    assert "--reuse" in capsys.readouterr().err


@pytest.mark.parametrize("reused", [True, False])
def test_report_lists_reused_trials_only_when_there_are_some(tmp_path, data_root, reused):
    suite = load_suite("smoke")
    first = tmp_path / "first"
    _run(suite, first, data_root, filters={"method": ["fp32"], "arch": ["gcn"], "seed": [0]})
    out = tmp_path / "second"
    args = ["run", "smoke", "--out", str(out), "--no-progress", "--cache", str(data_root.cache), "--method", "fp32",
            "--arch", "gcn", "--seed", "0"] + (["--reuse", str(first)] if reused else [])
    assert main(args) == 0
    report = (out / "report.md").read_text()
    assert ("trials reused" in report) is reused and ("reused_from" in report) is reused


def test_ctrl_c_after_reuse_counts_the_copies_as_saved(tmp_path, data_root, monkeypatch, capsys):
    """Ctrl-C in the first trial to train: the copies made before it are on disk, and the message counts them."""
    import dqbench.run.executors.in_order

    suite = load_suite("smoke")
    first = tmp_path / "first"
    _run(suite, first, data_root, filters={"method": ["fp32"], "arch": ["gcn"], "seed": [0]})

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dqbench.run.executors.in_order, "run_trial", interrupted)
    out = tmp_path / "second"
    args = ["run", "smoke", "--out", str(out), "--no-progress", "--cache", str(data_root.cache), "--method", "fp32",
            "--method", "ptq", "--arch", "gcn", "--seed", "0", "--reuse", str(first), "--jobs", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    copied = len(_records(out))
    assert copied >= 1 and f"interrupted: {copied} of " in err and err.count("\n") == 1
    (piece,) = RunStore(out).pieces()
    assert (piece["outcome"], piece["ran"], piece["reused"]) == ("interrupted", 0, copied)
    assert "ran 0, interrupted" in (out / "report.md").read_text()


def test_two_workers_give_the_same_records_as_one(tmp_path, data_root):
    suite = load_suite("smoke")
    picked = {"arch": ["gcn"], "method": ["fp32", "degree_quant"], "seed": [0]}
    one = _run(suite, tmp_path / "one", data_root, filters=picked, threads=1)
    two = _run(suite, tmp_path / "two", data_root, filters=picked, jobs=2, threads=1)
    assert (one.ran, two.ran, two.failed) == (3, 3, 0)

    def results(run):  # everything but wall-clock timings
        return {r["trial_id"]: {k: v for k, v in r["metrics"].items() if not k.endswith("time_s")}
                for r in _records(run)}
    assert results(tmp_path / "two") == results(tmp_path / "one")


def test_jobs_refused_for_latency_suites_and_jobs_or_threads_below_one(tmp_path, data_root):
    with pytest.raises(DQBenchError, match="--jobs 1"):
        _run(load_suite("latency"), tmp_path / "lat", data_root, jobs=2)
    with pytest.raises(DQBenchError, match="--jobs 0"):
        _run(load_suite("smoke"), tmp_path / "acc", data_root, jobs=0)
    with pytest.raises(DQBenchError, match="--threads 0"):
        _run(load_suite("smoke"), tmp_path / "acc", data_root, jobs=2, threads=0)
    assert not (tmp_path / "acc").exists()  # refused before the run directory is made


def test_plan_with_reuse_does_not_count_copies_as_not_estimated(tmp_path, data_root, capsys):
    # two datasets: "small" has a finished trial in the run directory (a pace), "other" has none there but one of
    # its two trials would be copied from the first directory: only the other one is "not estimated"
    smoke = Path(load_suite("smoke").path).read_text()
    suite = tmp_path / "two.toml"
    suite.write_text(smoke.replace('name = "smoke"', 'name = "two"').replace(
        '[[archs]]', '[[datasets]]\nname = "synthetic"\nlabel = "other"\nnum_nodes = 200\nnum_features = 16\n'
        'num_classes = 3\n\n[[archs]]', 1))
    two = load_suite(str(suite))
    first, out = tmp_path / "first", tmp_path / "second"
    _run(two, first, data_root, filters={"dataset": ["other"], "arch": ["gcn"], "method": ["fp32"], "seed": [0]})
    _run(two, out, data_root, filters={"dataset": ["synthetic"], "arch": ["gcn"], "method": ["fp32"], "seed": [0]})
    args = ["run", str(suite), "--plan", "--out", str(out), "--cache", str(data_root.cache), "--arch", "gcn",
            "--method", "fp32", "--reuse", str(first)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "(1 trials not estimated: no finished trial of their dataset yet)" in printed
    assert "--reuse: 1 of the 3 trials to run would be copied" in printed


def test_records_carry_their_method_version(tmp_path, data_root, monkeypatch):
    from dqbench.methods.qat import QAT

    suite = load_suite("smoke")
    picked = {"arch": ["gcn"], "method": ["fp32", "qat"], "bits": ["32", "8"], "seed": [0]}
    monkeypatch.setattr(QAT, "version", "7")
    _run(suite, tmp_path / "run", data_root, filters=picked)
    versions = {r["config"]["method"]: r["method_version"] for r in _records(tmp_path / "run")}
    assert versions == {"fp32": "1", "qat": "7"}
