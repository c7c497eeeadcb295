"""The CLI end to end on smoke data, and its one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dqbench.cli import main
from dqbench.run.store import RunStore

REPO = Path(__file__).resolve().parent.parent


def _env(data_root):
    env = dict(os.environ, DQBENCH_CACHE=str(data_root.cache), PYTHONPATH=str(REPO))
    if data_root.mirror:
        env["DQBENCH_DATA_MIRROR"] = str(data_root.mirror)
    return env


def test_run_smoke_end_to_end_and_resume(tmp_path, data_root, capsys):
    out = tmp_path / "run"
    args = ["run", "smoke", "--out", str(out), "--no-progress", "--cache", str(data_root.cache)]
    assert main(args) == 0
    lines = (out / "trials.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 28 and all(r["status"] == "ok" for r in records)
    assert {r["config"]["method"] for r in records} == {"fp32", "ptq", "qat", "degree_quant"}
    report = (out / "report.md").read_text()
    assert "Accuracy" in report and "degree_quant" in report and (out / "accuracy.png").stat().st_size > 1000
    info = json.loads((out / "run.json").read_text())
    assert info["environment"]["packages"]["torch"].startswith("2.13")
    assert "Settings (from the records)" in report and "| `dqbench run smoke --out" in report
    # resuming does nothing, duplicates nothing, and logs no piece (it ran no trial)
    assert main(args) == 0
    assert len((out / "trials.jsonl").read_text().splitlines()) == 28
    assert "28 already done" in capsys.readouterr().out
    pieces = RunStore(out).pieces()
    assert len(pieces) == 1 and pieces[0]["to_run"] == 28 and pieces[0]["command"].startswith("dqbench run smoke")
    assert (pieces[0]["ran"], pieces[0]["outcome"]) == (28, "finished")
    assert "| ran 28" in report


@pytest.mark.parametrize("argv, message", [
    (["run", "no-such-suite"], "suite file 'no-such-suite' not found"),
    (["list", "things"], "invalid choice"),
    (["report", "/nonexistent/run"], "is not a dqbench run directory"),
    (["run", "smoke", "--method", "qta"], "--method qta: not in suite 'smoke'"),
    (["run", "smoke", "--seed", "9"], "--seed 9: not in suite 'smoke'"),
    (["run", "smoke", "--threads", "-1"], "argument --threads: give a whole number, 1 or more (got '-1')"),
    (["run", "smoke", "--threads", "0"], "argument --threads: give a whole number, 1 or more (got '0')"),
    (["analyze", "--epochs", "0"], "argument --epochs: give a whole number, 1 or more"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    if argv[0] == "run":
        argv = argv + ["--out", str(tmp_path / "r"), "--no-progress"]
    if argv[0] == "analyze":  # should the check ever fail, the analysis lands here, not in reports/analysis
        argv = argv + ["--out", str(tmp_path / "a")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_list_shows_sources(capsys):
    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert "degree_quant" in out and "built-in" in out


def _start_long_smoke(tmp_path, data_root, name, min_records, extra=(), **popen_kwargs):
    """Start a slower copy of the smoke suite in a subprocess; return once it has ``min_records`` records."""
    suite = tmp_path / f"{name}.toml"
    suite.write_text((REPO / "suites" / "smoke.toml").read_text().replace('name = "smoke"', f'name = "{name}"')
                     .replace("epochs = 30", "epochs = 60"))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "dqbench.cli", "run", str(suite), "--out", str(out), "--no-progress", "--no-report",
           *extra]
    proc = subprocess.Popen(cmd, env=_env(data_root), **popen_kwargs)
    records = out / "trials.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and not (records.exists() and len(records.read_text().splitlines()) >= min_records):
        time.sleep(0.05)
    return proc, cmd, records


def test_sigkill_midway_then_resume_gives_one_record_per_trial(tmp_path, data_root):
    proc, cmd, records = _start_long_smoke(tmp_path, data_root, "killme", 3, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(records.read_text().splitlines())
    assert 3 <= partial < 28, "the run must have been killed part-way"
    done = subprocess.run(cmd, env=_env(data_root), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ids = [json.loads(line)["trial_id"] for line in records.read_text().splitlines()]
    assert len(ids) == 28 and len(set(ids)) == 28


@pytest.mark.parametrize("extra", [(), ("--jobs", "2", "--threads", "1")], ids=["in-order", "two-workers"])
def test_ctrl_c_saves_finished_trials_and_exits_2_in_one_line(tmp_path, data_root, extra):
    proc, _, records = _start_long_smoke(tmp_path, data_root, "intr", 2, extra, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    lines = [line for line in err.splitlines() if line.startswith("dqbench: error")]
    assert len(lines) == 1 and "run the same command again to resume" in lines[0] and "Traceback" not in err
    saved = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(saved) >= 2 and all(r["status"] == "ok" for r in saved)
    (piece,) = RunStore(records.parent).pieces()
    assert (piece["outcome"], piece["ran"]) == ("interrupted", len(saved))


def test_validate_counts_per_dataset_seeds(capsys):
    """paper_graph runs one seed per fold, and ogbg-molhiv (no folds) its own 10: validate says both."""
    assert main(["validate", "paper_graph"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "1 seeds (ogbg-molhiv 10)" in line and "125 trials" in line


SMALL = """
name = "small"
seeds = [0]
[train]
epochs = 1
[[datasets]]
name = "synthetic-graphs"
num_graphs = 12
[[archs]]
name = "gcn"
[[methods]]
name = "fp32"
"""


@pytest.mark.parametrize("old, new, message", [
    ('name = "gcn"', 'name = "gcn"\nhidden = 0', "[[archs]] 'gcn': hidden must be a positive integer, got 0"),
    ("num_graphs = 12", "num_graphs = 0", "dataset 'synthetic-graphs': num_graphs must be an integer >= 6"),
    ('name = "gcn"', 'name = "gcn"\nconv_dropout = 1.0', "conv_dropout must be a number in [0, 1), got 1.0"),
    ("epochs = 1", "epochs = 1\nlr = nan", "train.lr = nan is not a finite number"),
    ("", '[[exclude]]\nmethod = "qat"', "[[exclude]] entry 1: method 'qat' is not in the suite; choose from fp32"),
    ('name = "small"', "name = 5", "name must be a non-empty string, got 5"),
    ("seeds = [0]", "seeds = [-1]", "seeds: seed -1 is out of range"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_suite_values_exit_2_before_any_trial(tmp_path, capsys, command, old, new, message):
    suite = tmp_path / "bad.toml"
    suite.write_text(SMALL.replace(old, new, 1) if old else SMALL + new + "\n")
    out = tmp_path / "run"
    argv = [command, str(suite)] + (["--out", str(out), "--no-progress", "--cache", str(tmp_path / "c")]
                                    if command == "run" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dqbench: error: ") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # refused while loading: no run directory, no trial


def test_folds_beyond_a_dataset_are_refused_by_run_before_any_trial(tmp_path, capsys):
    """validate loads no data, so it cannot count folds; run counts them and refuses before the first trial."""
    suite = tmp_path / "folds.toml"
    suite.write_text("folds = [5]\n" + SMALL)
    assert main(["validate", str(suite)]) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    assert main(["run", str(suite), "--out", str(out), "--no-progress", "--cache", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert "folds = [5] goes beyond dataset 'synthetic-graphs', which has 3 folds (0..2)" in err
    assert err.startswith("dqbench: error: ") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (out / "trials.jsonl").exists()
    assert main(["run", str(suite), "--plan", "--out", str(out), "--cache", str(tmp_path / "c")]) == 2
    assert "goes beyond dataset 'synthetic-graphs'" in capsys.readouterr().err
