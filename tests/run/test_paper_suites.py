"""The paper suites stay valid and runnable: whole-suite validation, and a --quick run of a small piece of each."""

import json
from pathlib import Path

import pytest

from dqbench.cli import main
from dqbench.run.suite import expand, load_suite

MIRRORED = {"reddit-binary": "TUDataset/REDDIT-BINARY", "ogbg-molhiv": "ogb/ogbg_molhiv"}  # skipped without them
SUITES = sorted(p.stem for p in (Path(__file__).parents[2] / "suites").glob("*.toml"))


def test_suite_files_are_found():
    assert {"paper_node", "paper_graph", "ablation", "molhiv_gin_int8", "cora_gin_dropout"} <= set(SUITES)


@pytest.mark.parametrize("name", SUITES)
def test_suite_validates(name):
    suite = load_suite(name)
    assert expand(suite)


@pytest.mark.parametrize("name, dataset, expected, extra", [
    ("paper_node", "cora", 21, []),      # 3 archs x 7 method/bit cells
    ("paper_graph", "mutag", 6, []),     # GIN x 6 cells (the paper's 5 + dq_ema0.01), first fold
    ("ablation", "cora", 14, []),        # GCN x 14 variants
    ("citeseer_gat_int4", "cora", 3, []),  # GAT x qat, degree_quant, dq_ema0.01 (the CiteSeer half: 9 variants)
    ("gin_int8", "cora", 3, ["--method", "degree_quant", "--method", "dq_ema0.01", "--method", "qat"]),
    ("gin_fp32_cora", "cora_normalized", 1, []),  # the normalized-feature entry: GIN default only
    ("cora_gin_dropout", "cora", 2, ["--arch", "gin_dropout0.8", "--method", "degree_quant"]),  # INT8 and INT4
    ("citeseer_gin_dropout", "citeseer", 2, ["--arch", "gin_dropout0.8", "--method", "degree_quant"]),
    ("reddit_short", "reddit-binary", 1, ["--method", "degree_quant", "--bits", "4"]),  # ~10 s per epoch
    ("reddit_degree_features", "reddit-binary_standardized", 1, ["--method", "degree_quant"]),  # the authors' features
    ("molhiv_gin_int8", "ogbg-molhiv", 1, ["--method", "dq_lr0.001", "--seed", "0"]),  # ~10 s per epoch
])
def test_quick_piece_runs(name, dataset, expected, extra, tmp_path, data_root, real_root):
    if dataset in MIRRORED:
        real_root(MIRRORED[dataset])
    out = tmp_path / name
    argv = ["run", name, "--quick", "--dataset", dataset, "--out", str(out), "--no-progress",
            "--cache", str(data_root.cache), *extra]
    if data_root.mirror:
        argv += ["--data-mirror", str(data_root.mirror)]
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert len(records) == expected and all(r["status"] == "ok" for r in records)
    assert all(r["config"]["train"]["epochs"] == 2 for r in records)
    # a second piece of the same suite goes into the same directory without touching the first
    assert main(argv) == 0
    assert len((out / "trials.jsonl").read_text().splitlines()) == expected
