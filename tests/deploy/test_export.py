"""`dqbench export`: every committed latency model and freshly trained accuracy trials become files that a new
process (`dqbench infer`) runs to the in-process program's logits, bit for bit; a record the re-trained model does
not reproduce, an unknown, unfinished or FP32 trial are refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dqbench.cli import main
from dqbench.deploy.export import export_trial
from dqbench.errors import DQBenchError
from dqbench.run.runner import run_suite
from dqbench.run.suite import load_suite

REPO = Path(__file__).resolve().parents[2]
LATENCY_RUN = REPO / "reports" / "latency"


def latency_models() -> list[str]:
    """One trial id per distinct model of the committed latency run (the thread count does not change it)."""
    ids = {}
    for line in (LATENCY_RUN / "trials.jsonl").read_text().splitlines():
        record = json.loads(line)
        config = {k: v for k, v in record["config"].items() if k != "threads"}
        if record["status"] == "ok":
            ids.setdefault(json.dumps(config, sort_keys=True), record["trial_id"])
    return list(ids.values())


def random_graph(num_features: int, n: int = 400, seed: int = 0):
    from torch_geometric.data import Data

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, num_features, generator=gen)
    return Data(x=x, edge_index=torch.randint(0, n, (2, 6 * n), generator=gen))


def infer_in_new_process(model: Path, graph: Path, out: Path) -> np.ndarray:
    done = subprocess.run([sys.executable, "-m", "dqbench.cli", "infer", str(model), str(graph), "-o", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return np.load(out)["logits"]


@pytest.mark.slow
def test_every_committed_latency_model_round_trips_through_a_new_process(tmp_path, data_root, real_root):
    for folder in ("Planetoid/Cora", "Planetoid/CiteSeer", "ogb/ogbg_molhiv", "TUDataset/REDDIT-BINARY"):
        real_root(folder)
    ids = latency_models()
    assert len(ids) == 15  # GCN, GIN, GAT on Cora, CiteSeer, the 170k-node graph, ogbg-molhiv and REDDIT-BINARY
    for trial_id in ids:
        done = export_trial(LATENCY_RUN, trial_id, tmp_path / f"{trial_id}.dqb", data_root)
        prog = done["program"]
        graph = random_graph(prog.contract["num_features"])
        npz = tmp_path / f"{trial_id}.npz"
        np.savez(npz, x=graph.x.numpy(), edge_index=graph.edge_index.numpy())
        with torch.no_grad():
            expected = prog.run(graph).numpy()
        assert np.array_equal(infer_in_new_process(done["out"], npz, tmp_path / f"{trial_id}.pred.npz"), expected)


def test_cli_export_then_infer_on_the_trials_own_graph(tmp_path, data_root, real_root, capsys):
    from torch_geometric.data import Data

    from dqbench.registry import DATASETS

    root = real_root("Planetoid/Cora")
    trial_id = next(t for t in latency_models() if t.startswith("cora-gcn"))
    model = tmp_path / "cora.dqb"
    assert main(["export", str(LATENCY_RUN), trial_id, "-o", str(model), "--cache", str(root.cache)]) == 0
    assert "equal the in-process program's" in capsys.readouterr().out
    data = DATASETS.get("cora")(root=root, seed=0).split(0).data
    torch.save(Data(x=data.x, edge_index=data.edge_index), tmp_path / "cora.pt")
    from dqbench.engine import load

    with torch.no_grad():
        expected = load(model).run(data).numpy()
    got = infer_in_new_process(model, tmp_path / "cora.pt", tmp_path / "cora.pred.npz")
    assert np.array_equal(got, expected)
    assert np.array_equal(np.load(tmp_path / "cora.pred.npz")["pred"], expected.argmax(1))


TINY = """
name = "export-tiny"
seeds = [0]
folds = 1
[train]
epochs = 3
[[datasets]]
name = "synthetic"
num_nodes = 300
num_features = 16
[[datasets]]
name = "synthetic-graphs"
num_graphs = 60
num_folds = 3
[[archs]]
name = "gin"
hidden = 16
[[archs]]
name = "gat"
hidden = 8
heads = 2
[[methods]]
name = "fp32"
[[methods]]
name = "degree_quant"
bits = [4]
[[exclude]]
dataset = "synthetic-graphs"
arch = "gat"
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("run")
    suite = out / "tiny.toml"
    suite.write_text(TINY)
    summary = run_suite(load_suite(str(suite)), out / "run", data_root, progress=False, log=lambda *_: None)
    assert summary.failed == 0
    return out / "run", {r["config"]["dataset"] + "-" + r["config"]["arch"] + "-" + r["config"]["method"]: r
                         for r in map(json.loads, (out / "run" / "trials.jsonl").read_text().splitlines())}


@pytest.mark.parametrize("cell", ["synthetic-gin-degree_quant", "synthetic-gat-degree_quant",
                                  "synthetic-graphs-gin-degree_quant"])
def test_accuracy_trials_are_trained_again_and_exported(tiny_run, tmp_path, data_root, cell):
    run, records = tiny_run
    record = records[cell]
    done = export_trial(run, record["trial_id"], tmp_path / "m.dqb", data_root)
    assert done["record_test"] == record["metrics"]["test"] and 0.0 <= done["engine_test"] <= 1.0
    assert done["program"].source == {} and done["bytes"] > 0  # the in-process program; the file holds the source
    from dqbench.engine import artifact

    assert artifact.read_header(done["out"])["source"]["trial_id"] == record["trial_id"]


def test_a_record_the_model_does_not_reproduce_is_refused(tiny_run, tmp_path, data_root):
    run, records = tiny_run
    record = dict(records["synthetic-gin-degree_quant"])
    record["metrics"] = {**record["metrics"], "test": record["metrics"]["test"] + 0.01}
    other = tmp_path / "edited"
    other.mkdir()
    (other / "trials.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(DQBenchError, match="trained again.*gives test"):
        export_trial(other, record["trial_id"], tmp_path / "m.dqb", data_root)
    assert not (tmp_path / "m.dqb").exists()


def test_unknown_fp32_and_unfinished_trials_are_refused(tiny_run, tmp_path, data_root, capsys):
    run, records = tiny_run
    good = records["synthetic-gin-degree_quant"]["trial_id"]
    assert main(["export", str(run), good[:-1], "-o", str(tmp_path / "m.dqb")]) == 2
    assert f"did you mean {good}" in capsys.readouterr().err
    assert main(["export", str(run), records["synthetic-gin-fp32"]["trial_id"], "-o", str(tmp_path / "m.dqb")]) == 2
    assert "2-8 bit" in capsys.readouterr().err
    failed = {**records["synthetic-gin-degree_quant"], "status": "failed", "error": "boom"}
    (tmp_path / "trials.jsonl").write_text(json.dumps(failed) + "\n")
    assert main(["export", str(tmp_path), good, "-o", str(tmp_path / "m.dqb")]) == 2
    assert "not ok" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nowhere"), good, "-o", str(tmp_path / "m.dqb")]) == 2
    err = capsys.readouterr().err
    assert "no trials.jsonl" in err and err.count("\n") == 1
