"""Same configuration, same record: a suite run through the real CLI at 1 and 2 threads and with --jobs 2 gives
identical records (every metric but timings), and run.json states the settings that make it so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Big enough that PyTorch's own scatter, batch norm and GEMM sums change with the thread count (the old models'
# records differed between --threads 1 and 2 on it); small enough to run in seconds.
SUITE = """
name = "determinism"
seeds = [0]
folds = 1

[train]
epochs = 6
lr = 0.01
batch_size = 64

[[datasets]]
name = "synthetic"
num_nodes = 3000
avg_degree = 12
num_features = 48
num_classes = 4

[[datasets]]
name = "synthetic-graphs"
num_graphs = 160
min_nodes = 60
max_nodes = 120
num_folds = 3

[[archs]]
name = "gcn"
hidden = 64

[[archs]]
name = "gin"
hidden = 64

[[archs]]
name = "gat"
hidden = 64
heads = 4

[[methods]]
name = "fp32"

[[methods]]
name = "degree_quant"
bits = [4]

[[exclude]]
dataset = "synthetic-graphs"
arch = "gat"
"""


def run(suite: Path, out: Path, *extra: str) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    cmd = [sys.executable, "-m", "dqbench.cli", "run", str(suite), "--out", str(out), "--no-progress",
           "--no-report", *extra]
    done = subprocess.run(cmd, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert records and all(r["status"] == "ok" for r in records)
    return {r["trial_id"]: {k: v for k, v in r["metrics"].items() if not k.endswith("_s")} for r in records}


@pytest.mark.slow
def test_records_identical_at_any_thread_count_and_jobs(tmp_path):
    suite = tmp_path / "determinism.toml"
    suite.write_text(SUITE)
    one = run(suite, tmp_path / "one", "--threads", "1")
    assert len(one) == 10
    assert run(suite, tmp_path / "two", "--threads", "2") == one
    assert run(suite, tmp_path / "jobs", "--jobs", "2", "--threads", "2") == one
    settings = json.loads((tmp_path / "one" / "run.json").read_text())["environment"]["process_settings"]
    assert settings["THP_MEM_ALLOC_ENABLE"] == "1" and len(settings["deterministic_ops"]) == 3
