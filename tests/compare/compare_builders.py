"""Builders for run directories made of realistic records (real TrialSpecs + make_record)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from dqbench.run.records import make_record
from dqbench.run.suite import TRAIN_DEFAULTS, Entry, TrialSpec, trial_id

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"dqbench": "0.1.0", "torch": "2.13.0+cpu", "torch_geometric": "2.8.1", "ogb": "1.3.6"}
DATASET = Entry("cora", "cora", {})
ARCHS = {"gcn": Entry("gcn", "gcn", {"hidden": 64}), "gin": Entry("gin", "gin", {"hidden": 64})}


def trial(method: str, bits: int, seed: int, arch: str = "gcn", kind: str = "accuracy", threads=None,
          train: dict | None = None) -> TrialSpec:
    m = Entry(method, method, {"p_min": 0.0, "p_max": 0.1} if method == "degree_quant" else {})
    spec = TrialSpec("", kind, DATASET, ARCHS[arch], m, bits, seed, 0, {**TRAIN_DEFAULTS, **(train or {})},
                     threads)
    return replace(spec, trial_id=trial_id(spec.config()))


def acc(method: str, bits: int, seed: int, test: float, status: str = "ok", **kw) -> dict:
    t = trial(method, bits, seed, **kw)
    if status != "ok":
        return make_record(t, status, error="RuntimeError: boom", suite="t")
    return make_record(t, "ok", metrics={"test": test, "val": test, "train": 0.99, "best_epoch": 100}, suite="t")


def lat(method: str, bits: int, seed: int, samples: dict, status: str = "ok") -> dict:
    t = trial(method, bits, seed, kind="latency", threads=1)
    if status != "ok":
        return make_record(t, status, error="LoweringError: op 'x' unsupported", suite="t")
    return make_record(t, "ok", metrics={"int8_median_s": float(np.median(samples["int8"]))}, samples=samples,
                       suite="t")


def accuracy_records(shift: dict | None = None, seeds=range(5)) -> list[dict]:
    """Noisy per-seed scores for three configurations; ``shift`` maps (method, bits) -> added score."""
    rng = np.random.default_rng(0)
    out = []
    for method, bits, mean in (("fp32", 32, 0.81), ("qat", 4, 0.52), ("degree_quant", 4, 0.74)):
        for seed in seeds:
            score = mean + 0.01 * rng.standard_normal() + (shift or {}).get((method, bits), 0.0)
            out.append(acc(method, bits, seed, round(score, 4)))
    return out


def latency_records(scale: dict | None = None) -> list[dict]:
    """20 noisy samples per control; ``scale`` maps control -> factor applied to every sample."""
    rng = np.random.default_rng(1)
    base = {"pyg": 0.040, "fp32": 0.020, "int32": 0.015, "int8": 0.008}
    out = []
    for method in ("qat", "degree_quant"):
        samples = {c: [float(t * (1 + 0.02 * abs(rng.standard_normal())) * (scale or {}).get(c, 1.0))
                       for _ in range(20)] for c, t in base.items()}
        out.append(lat(method, 8, 0, samples))
    return out


def write_run(path: Path, records: list[dict], machine_id: str = "m1", packages: dict | None = None,
              suite: str = "t", suite_path: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    info = {"suite": {"name": suite, "path": suite_path or str(path / "no-such-suite.toml")},
            "created": "2026-01-01T00:00:00+0000",
            "environment": {"machine_id": machine_id, "cpu": "Test CPU", "cpu_flags": ["avx2"],
                            "packages": {**PACKAGES, **(packages or {})}}}
    (path / "run.json").write_text(json.dumps(info))
    (path / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
