"""The roofline probe measures positive rates, and the per-op model counts what each op must move and compute."""

from __future__ import annotations

import torch

from dqbench.engine import kernels as K
from dqbench.latency import roofline
from dqbench.latency.harness import run_latency_trial
from dqbench.registry import DATASETS


def test_probe_rates_are_positive():
    rates = roofline.probe(K.resolve_backend("auto"), 1, [16, 64])
    assert rates["seq_bytes_per_s"] > 0 and rates["int8_ops_per_s"] > 0
    assert set(rates["gather_rows_per_s"]) == {"16", "64"} and min(rates["gather_rows_per_s"].values()) > 0


def test_gemm_limit_is_the_larger_of_bytes_and_ops():
    from dqbench.engine.program import GemmOp
    from dqbench.quant.qparams import QParams

    w = K.PackedWeight(torch.zeros(8, 4, dtype=torch.int8), 0, 0, "torch")
    op = GemmOp(name="l", src="a", dst="b", weight=w, req=K.Requant(alpha=torch.ones(8), qp=QParams(1.0, 0, 8, True)))
    env = {"a": torch.zeros(10, 4, dtype=torch.int8), "b": torch.zeros(10, 8, dtype=torch.int8)}
    slow_ops = {"seq_bytes_per_s": 1e12, "int8_ops_per_s": 1.0, "gather_rows_per_s": {}}
    assert roofline.op_limit(op, env, {}, slow_ops) == 2 * 10 * 4 * 8
    slow_bytes = {"seq_bytes_per_s": 1.0, "int8_ops_per_s": 1e12, "gather_rows_per_s": {}}
    assert roofline.op_limit(op, env, {}, slow_bytes) == 40 + 32 + 80


def test_latency_trials_report_the_fraction_of_the_limit_per_stage():
    dataset = DATASETS.get("synthetic")(num_nodes=800, avg_degree=6, num_features=16, num_classes=4)
    t = {"arch_name": "gat", "arch_kwargs": {"hidden": 16, "heads": 2}, "method_name": "ptq", "method_kwargs": {},
         "bits": 8, "seed": 0, "threads": 1, "rounds": 2, "warmup": 1, "controls": ["pyg"]}
    roof = run_latency_trial(t, dataset)["metrics"]["roofline"]
    assert {"gemm", "spmm", "attention"} <= set(roof["fraction_of_limit"])
    assert all(v > 0 for v in roof["fraction_of_limit"].values())
