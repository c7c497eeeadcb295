"""`dqbench run --executor ray` on a real local Ray instance: the records of a serial run, a worker killed mid-trial
retried and recorded once, a killed driver resumed, a worker without the data failing only its trials, and the
refusals (latency suites, no Ray, options of the other executor) in one line before anything runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from dqbench.cli import main
from dqbench.run.executors.ray_cluster import RayCluster
from dqbench.run.runner import run_suite
from dqbench.run.store import RunStore
from dqbench.run.suite import load_suite

TINY = """
name = "ray-tiny"
seeds = [0, 1]
folds = 1

[train]
epochs = {epochs}

[[datasets]]
name = "synthetic"
num_nodes = 300
num_features = 16

[[datasets]]
name = "synthetic-graphs"
num_graphs = 60
num_folds = 3

[[archs]]
name = "gcn"
hidden = 16

[[archs]]
name = "gin"
hidden = 16

[[methods]]
name = "fp32"

[[methods]]
name = "degree_quant"
bits = [4]
{extra}
"""


def write_suite(tmp_path, epochs: int = 4, extra: str = "", name: str = "suite.toml"):
    path = tmp_path / name
    path.write_text(TINY.format(epochs=epochs, extra=extra))
    return path


def untimed(run) -> dict[str, dict]:
    return {r["trial_id"]: {k: v for k, v in r["metrics"].items() if not k.endswith("_s")}
            for r in RunStore(run).records()}


def lines(run) -> list[dict]:
    return [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]


def drive(args, env, **kwargs):
    """``dqbench run`` as its own driver process, joining the session's Ray instance."""
    cmd = [sys.executable, "-m", "dqbench.cli", "run", *map(str, args), "--no-progress", "--no-report"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_records_identical_to_a_serial_run_with_their_node(tmp_path, data_root, ray_cluster):
    address, _ = ray_cluster
    suite = load_suite(str(write_suite(tmp_path)))
    serial = run_suite(suite, tmp_path / "serial", data_root, progress=False, log=lambda *_: None)
    ray = run_suite(suite, tmp_path / "ray", data_root, progress=False, log=lambda *_: None, command="test",
                    executor=RayCluster(address=address, cache=str(data_root.cache)))
    assert (serial.ran, ray.ran, ray.failed) == (serial.total, serial.total, 0) and serial.total == 16
    assert untimed(tmp_path / "ray") == untimed(tmp_path / "serial")
    records = lines(tmp_path / "ray")
    assert all(r["attempts"] == 1 and r["node"]["host"] and r["node"]["ray_node_id"] for r in records)
    executor = json.loads((tmp_path / "ray" / "run.json").read_text())["executor"]
    assert (executor["name"], executor["nodes"], executor["cpus"]) == ("ray", 1, 2)
    (piece,) = RunStore(tmp_path / "ray").pieces()
    assert piece["executor"]["cpus_per_trial"] == 1 and piece["outcome"] == "finished"


def test_a_worker_killed_mid_trial_is_retried_once_and_recorded_once(tmp_path, ray_cluster):
    address, env = ray_cluster
    marker = tmp_path / "claimed"
    crash = f'\n[[methods]]\nname = "crash_once"\nbits = [8]\nmarker = "{marker}"\n'
    suite = write_suite(tmp_path, extra=crash)
    out = tmp_path / "run"
    driver = drive([suite, "--out", out, "--executor", "ray", "--address", address, "--dataset", "synthetic"], env)
    stdout, stderr = driver.communicate(timeout=600)
    assert driver.returncode == 0, stderr
    records = lines(out)
    assert marker.exists()  # the crash happened
    assert len(records) == len({r["trial_id"] for r in records}) == 12  # 2 archs x 3 methods x 2 seeds, once each
    assert all(r["status"] == "ok" for r in records)
    retried = [r for r in records if r["attempts"] > 1]
    assert len(retried) == 1 and retried[0]["config"]["method"] == "crash_once" and retried[0]["attempts"] == 2
    assert "lost_attempts" in retried[0] and "attempt 1 lost" in stderr


def test_a_driver_killed_mid_run_resumes_with_one_record_per_trial(tmp_path, ray_cluster):
    address, env = ray_cluster
    suite = write_suite(tmp_path, epochs=120)
    out = tmp_path / "run"
    args = [suite, "--out", out, "--executor", "ray", "--address", address, "--dataset", "synthetic"]
    driver = drive(args, env)
    deadline = time.time() + 300
    while time.time() < deadline and not ((out / "trials.jsonl").exists() and lines(out)):
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.communicate(timeout=60)
    first = len(lines(out))
    assert 1 <= first < 8, "the driver was to be killed mid-run"
    again = drive(args, env)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    counts = Counter(r["trial_id"] for r in lines(out))
    assert len(counts) == 8 and set(counts.values()) == {1}
    assert f"{first} already done, {8 - first} to run" in stdout


def test_a_worker_without_the_dataset_fails_its_trials_not_the_run(tmp_path, data_root, real_root, ray_cluster):
    address, _ = ray_cluster
    root = real_root("Planetoid/Cora")
    empty = tmp_path / "empty"
    empty.mkdir()
    suite_path = tmp_path / "two.toml"
    suite_path.write_text('name = "two"\nseeds = [0]\n[train]\nepochs = 2\n[[datasets]]\nname = "cora"\n'
                          '[[datasets]]\nname = "synthetic"\nnum_nodes = 200\n[[archs]]\nname = "gcn"\nhidden = 8\n'
                          '[[methods]]\nname = "fp32"\n')
    workers = RayCluster(address=address, cache=str(tmp_path / "worker-cache"), mirror=str(empty))
    summary = run_suite(load_suite(str(suite_path)), tmp_path / "run", root, progress=False, log=lambda *_: None,
                        executor=workers)
    assert (summary.ran, summary.failed) == (2, 1)
    by_dataset = {r["config"]["dataset"]: r for r in lines(tmp_path / "run")}
    assert by_dataset["synthetic"]["status"] == "ok"
    assert by_dataset["cora"]["status"] == "failed"
    assert "is not in the cache" in by_dataset["cora"]["error"] and "\n" not in by_dataset["cora"]["error"]


def test_latency_suites_are_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "lat"
    assert main(["run", "latency", "--executor", "ray", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "without --executor ray" in err and err.count("\n") == 1 and not out.exists()


def test_without_ray_the_error_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "run"
    assert main(["run", "smoke", "--executor", "ray", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'dqbench[ray]'" in err and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("args, says", [
    (["--address", "127.0.0.1:6379"], "--address only apply with --executor ray"),
    (["--cpus-per-trial", "2"], "--cpus-per-trial only apply with --executor ray"),
    (["--executor", "ray", "--jobs", "2"], "with ray use --cpus-per-trial"),
    (["--executor", "ray", "--retries", "-1"], "--retries -1"),
])
def test_options_of_the_other_executor_are_refused(tmp_path, capsys, args, says):
    assert main(["run", "smoke", "--out", str(tmp_path / "run"), "--no-progress", *args]) == 2
    assert says in capsys.readouterr().err


def test_cpus_per_trial_beyond_the_cluster_is_refused(tmp_path, data_root, ray_cluster):
    from dqbench.errors import DQBenchError

    address, _ = ray_cluster
    with pytest.raises(DQBenchError, match="has 2 CPUs"):
        run_suite(load_suite("smoke"), tmp_path / "run", data_root, progress=False, log=lambda *_: None,
                  executor=RayCluster(address=address, cpus_per_trial=3))
    assert not (tmp_path / "run").exists()


def test_env_ray_address_is_joined(monkeypatch, ray_cluster):
    address, _ = ray_cluster
    monkeypatch.setenv("RAY_ADDRESS", address)
    assert RayCluster().address == address
    monkeypatch.delenv("RAY_ADDRESS")
    assert RayCluster().address is None
    assert os.environ.get("RAY_ADDRESS") is None
