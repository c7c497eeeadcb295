"""Latency trials on a small graph: result layout, raw samples, side-by-side controls, integer agreement of the
INT32 control, and skipping of models the engine cannot lower. (No timing assertions: the machine is shared.)"""

from __future__ import annotations

import pytest

from dqbench.engine import LoweringError
from dqbench.latency.harness import run_latency_trial, stats
from dqbench.registry import DATASETS


@pytest.fixture(scope="module")
def dataset():
    return DATASETS.get("synthetic")(num_nodes=1500, avg_degree=8, num_features=24, num_classes=5)


def trial(arch, **kw):
    t = {"arch_name": arch, "arch_kwargs": {"hidden": 32, **({"heads": 4} if arch == "gat" else {})},
         "method_name": "ptq", "method_kwargs": {}, "bits": 8, "seed": 0, "threads": 1, "rounds": 3, "warmup": 1,
         "controls": ["pyg", "fp32", "int32"]}
    t.update(kw)
    return t


@pytest.mark.parametrize("arch", ["gcn", "gin", "gat"])
def test_latency_trial_layout(dataset, arch):
    result = run_latency_trial(trial(arch), dataset)
    m, samples = result["metrics"], result["samples"]
    assert {"int8", "pyg", "pyg_csr"} <= set(samples)
    assert all(len(s) == 3 and all(v > 0 for v in s) for s in samples.values())
    assert set(m["median_s"]) == set(samples)
    assert m["speedup"]["vs_pyg_best"] > 0
    assert m["stages_s"]["gemm"] > 0 and m["stages_s"]["spmm"] > 0
    assert m["memory_bytes"]["int8_total"] < m["memory_bytes"]["fp32_total"]
    assert m["backend"] in ("vnni", "avx2", "scalar", "torch")
    if arch in ("gcn", "gin") and m["backend"] == "vnni":
        assert m["int32_matches_int8"] is True  # the int32 program gives the INT8 engine's exact logits
        assert {"fp32", "int32"} <= set(samples)
    if arch == "gat":
        assert "attention" in m["stages_s"]


def test_two_threads_and_int4(dataset):
    result = run_latency_trial(trial("gcn", threads=2, bits=4, controls=["fp32"]), dataset)
    assert result["metrics"]["threads"] == 2
    assert "pyg" not in result["samples"]


def test_unlowerable_method_raises(dataset):
    with pytest.raises(LoweringError):
        run_latency_trial(trial("gcn", method_name="fp32", bits=32), dataset)


def test_stats_match_pytest_benchmark_fields():
    s = stats([3.0, 1.0, 2.0, 4.0])
    assert s["min"] == 1.0 and s["max"] == 4.0 and s["median"] == 2.5 and s["rounds"] == 4
    assert s["iqr"] > 0 and s["stddev"] > 0 and s["mean"] == 2.5


@pytest.mark.parametrize("arch", ["gcn", "gin", "gat"])
def test_fp32_control_computes_the_pyg_model(dataset, arch):
    """The FP32 same-structure control is a timing of the same model: its output is PyG's, to float rounding."""
    import torch

    from dqbench.latency.harness import converted_for_trial, fp32_control, pyg_model, trial_data

    t = trial(arch)
    data = trial_data(dataset)
    sim = converted_for_trial(t, dataset, data).simulate()
    f32 = fp32_control(arch, sim, data, 2)
    if f32 is None:
        pytest.skip("the FP32 control needs the compiled kernels on an AVX-512 VNNI CPU")
    forward, _ = pyg_model(arch, sim, dataset.task)
    with torch.no_grad():
        want = forward(data.x.float(), data.edge_index)
        got = f32(data.x.float().contiguous())
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_a_time_budget_stops_after_three_rounds_and_rounds_stay_the_most():
    import time as clock

    from dqbench.latency.harness import measure

    slow = {"a": lambda: clock.sleep(0.02), "b": lambda: None}
    assert [len(v) for v in measure(slow, rounds=10, warmup=0, max_seconds=0.001).values()] == [3, 3]
    assert [len(v) for v in measure(slow, rounds=2, warmup=0, max_seconds=0.001).values()] == [2, 2]
    assert [len(v) for v in measure(slow, rounds=5, warmup=0, max_seconds=0).values()] == [5, 5]


def test_onnx_controls_skip_above_their_edge_limit(dataset):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    result = run_latency_trial(trial("gcn", rounds=1, warmup=0, controls=["pyg", "onnx_fp32", "onnx_int8"],
                                     onnx_max_edges=100), dataset)
    reasons = result["metrics"]["skip_reasons"]
    assert "onnx_fp32" not in result["samples"] and "above [latency] onnx_max_edges (100)" in reasons["onnx_int8"]
    timed = run_latency_trial(trial("gcn", rounds=1, warmup=0, controls=["onnx_fp32"], onnx_max_edges=0), dataset)
    assert "onnx_fp32" in timed["samples"]
