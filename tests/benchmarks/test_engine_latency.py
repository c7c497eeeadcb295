"""INT8 engine latency vs its controls (pytest-benchmark). Skipped unless benchmarks are enabled:

    PYTHONPATH=. pytest tests/benchmarks/test_engine_latency.py --benchmark-enable [-s]

The benchmark times the INT8 program; the controls (FP32 PyG default and CSR, FP32 same-structure kernels,
INT32 same-structure) are measured side by side, interleaved, in the same run, and the median ratios go to
``benchmark.extra_info`` (speedup_vs_*). Graph size: DQBENCH_BENCH_NODES (default 170000 nodes, ~2.5M nnz,
128 features, hidden 128) - the engine's headline configuration. No assertions on speed: a shared machine.
"""

from __future__ import annotations

import os

import pytest
import torch

from dqbench.latency.harness import run_latency_trial
from dqbench.registry import DATASETS

NODES = int(os.environ.get("DQBENCH_BENCH_NODES", "170000"))
ROUNDS = int(os.environ.get("DQBENCH_BENCH_ROUNDS", "7"))
TARGETS = {("gcn", 1): {"vs_pyg_best": 7.0, "vs_fp32": 3.5, "vs_int32": 1.5}, ("gcn", 2): {"vs_pyg_best": 4.7},
           ("gin", 1): {"vs_pyg_best": 4.0}}


@pytest.fixture(autouse=True)
def _only_when_enabled(request):
    opt = request.config.getoption
    if opt("benchmark_disable", default=True) and not opt("benchmark_enable", default=False):
        pytest.skip("benchmarks are disabled (run with --benchmark-enable)")


@pytest.fixture(scope="module")
def graph_dataset():
    return DATASETS.get("synthetic")(num_nodes=NODES, avg_degree=15, num_features=128, num_classes=40)


@pytest.mark.parametrize("arch,threads", [("gcn", 1), ("gcn", 2), ("gin", 1), ("gin", 2), ("gat", 1)])
def test_int8_engine_latency(benchmark, graph_dataset, arch, threads):
    kwargs = {"hidden": 128, **({"heads": 8} if arch == "gat" else {})}
    trial = {"arch_name": arch, "arch_kwargs": kwargs, "method_name": "ptq", "method_kwargs": {}, "bits": 8,
             "seed": 0, "threads": threads, "rounds": ROUNDS, "warmup": 1,
             "controls": ["pyg", "fp32", "int32"] if arch != "gat" else ["pyg"]}
    result = run_latency_trial(trial, graph_dataset, keep_program=True)
    m = result["metrics"]
    int8 = result["samples"]["int8"]
    prog, graph, x = result["program"]
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            benchmark.pedantic(lambda: prog.execute(x, graph, threads=threads), rounds=ROUNDS, warmup_rounds=1)
    finally:
        torch.set_num_threads(old)
    benchmark.extra_info.update({f"speedup_{k}": round(v, 3) for k, v in m["speedup"].items()})
    benchmark.extra_info.update({f"median_s_{k}": v for k, v in m["median_s"].items()})
    benchmark.extra_info.update({f"stage_s_{k}": v for k, v in m["stages_s"].items()})
    benchmark.extra_info["backend"] = m["backend"]
    benchmark.extra_info["int8_samples_s"] = int8
    for key, target in TARGETS.get((arch, threads), {}).items():
        got = m["speedup"].get(key)
        verdict = "n/a" if not got else f"{'met' if got >= target else 'NOT met'} ({got:.2f}x / {target}x)"
        benchmark.extra_info[f"target_{key}"] = verdict
    print(f"\n{arch} t={threads} {m['backend']}: medians {m['median_s']} speed-ups {m['speedup']}")
    assert torch.isfinite(torch.tensor(int8)).all()
