"""The exported program file: a round trip through a fresh process gives the in-process program's logits bit for
bit (every arch, node and graph tasks, every backend this machine runs), and damaged, truncated, foreign, newer or
wrong-arch files are refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dqbench.engine import artifact, load, lower
from dqbench.engine import kernels as K
from dqbench.errors import DQBenchError

sys.path.insert(0, str(Path(__file__).parent))
from test_lowering import converted_model, make_graph  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CASES = [("gcn", "node", 4), ("gin", "node", 8), ("gat", "node", 8), ("gin", "graph", 4), ("gcn", "graph", 8)]


def graph_for(task: str, seed: int = 0):
    data = make_graph("powerlaw", seed=seed)
    if task == "graph":
        data.batch = torch.arange(data.num_nodes) % 7
        data.num_graphs = 7
    return data


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each case lowered, saved, and its logits on a graph it was not calibrated on."""
    out = {}
    for arch, task, bits in CASES:
        prog = lower(converted_model(arch, graph_for(task), bits, method="degree_quant", task=task))
        path = tmp_path_factory.mktemp("art") / f"{arch}-{task}.dqb"
        prog.save(path, source={"case": f"{arch}-{task}"})
        with torch.no_grad():
            out[(arch, task)] = (path, prog, prog.run(graph_for(task, seed=1)))
    return out


def test_a_fresh_process_gives_the_same_logits(exported, tmp_path):
    script = ("import sys, torch\nfrom dqbench.engine import load\nsys.path.insert(0, 'tests/engine')\n"
              "from test_artifact import graph_for\n"
              "for path, task, dst in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):\n"
              "    prog = load(path)\n"
              "    with torch.no_grad():\n"
              "        torch.save(prog.run(graph_for(task, seed=1)), dst)\n")
    args = []
    for (arch, task), (path, _, _) in exported.items():
        args += [str(path), task, str(tmp_path / f"{arch}-{task}.pt")]
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for (arch, task), (_, _, logits) in exported.items():
        assert torch.equal(torch.load(tmp_path / f"{arch}-{task}.pt"), logits), (arch, task)


@pytest.mark.parametrize("backend", K.runnable_backends())
def test_every_backend_runs_the_same_file(exported, backend):
    for (arch, task), (path, _, logits) in exported.items():
        prog = load(path, backend=backend)
        assert prog.backend == backend
        with torch.no_grad():
            assert torch.equal(prog.run(graph_for(task, seed=1)), logits), (arch, task, backend)


def test_header_states_the_contract_the_ops_and_the_source(exported):
    path, prog, _ = exported[("gat", "node")]
    header = artifact.read_header(path)
    assert (header["format"], header["version"], header["arch"]) == (artifact.FORMAT, artifact.VERSION, "gat")
    assert header["input"]["num_features"] == 12 and header["input"]["outputs"] == 5
    assert [op["type"] for op in header["ops"]] == [type(op).__name__ for op in prog.ops]
    assert all(op["precision"] for op in header["ops"]) and header["source"] == {"case": "gat-node"}
    assert load(path).precision_report() == prog.precision_report()


def rewrite(src: Path, dst: Path, edit) -> Path:
    """A copy of the artifact with its header edited by ``edit(header)`` (the tensors untouched)."""
    from safetensors.torch import load_file, save_file

    header = artifact.read_header(src)
    edit(header)
    save_file(load_file(str(src)), str(dst), metadata={artifact.HEADER_KEY: json.dumps(header)})
    return dst


def bad_files(src: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    data = src.read_bytes()
    (tmp / "truncated.dqb").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF  # a byte of the last tensor
    (tmp / "flipped.dqb").write_bytes(bytes(flipped))
    (tmp / "garbage.dqb").write_bytes(b"not a model at all")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp / "foreign.dqb"))
    return {
        "truncated": (tmp / "truncated.dqb", "damaged"),
        "flipped": (tmp / "flipped.dqb", "checksum"),
        "garbage": (tmp / "garbage.dqb", "damaged"),
        "foreign": (tmp / "foreign.dqb", "without a dqbench program header"),
        "missing": (tmp / "nothing.dqb", "no such model file"),
        "newer": (rewrite(src, tmp / "newer.dqb", lambda h: h.update(version=artifact.VERSION + 1)), "newer dqbench"),
        "bad version": (rewrite(src, tmp / "v0.dqb", lambda h: h.update(version="one")), "not valid"),
        "format": (rewrite(src, tmp / "fmt.dqb", lambda h: h.update(format="onnx")), "no dqbench integer program"),
        "wrong arch": (rewrite(src, tmp / "arch.dqb", lambda h: h.update(arch="sage")), "arch 'sage'"),
        "unknown op": (rewrite(src, tmp / "op.dqb", lambda h: h["ops"][0].update(type="SageOp")), "arch 'gcn'"),
        "incomplete": (rewrite(src, tmp / "inc.dqb", lambda h: h["ops"][1].pop("weight")), "incomplete"),
    }


@pytest.mark.parametrize("case", ["truncated", "flipped", "garbage", "foreign", "missing", "newer", "bad version",
                                  "format", "wrong arch", "unknown op", "incomplete"])
def test_bad_files_are_refused_in_one_line(exported, tmp_path, case):
    path, says = bad_files(exported[("gcn", "node")][0], tmp_path)[case]
    with pytest.raises(DQBenchError, match=says) as err:
        load(path)
    assert "\n" not in str(err.value)
