"""End to end through the real runner: baseline -> identical re-run passes -> a broken quantizer fails."""

import json

import pytest

from dqbench.cli import main

# A reduced copy of suites/smoke.toml: one arch, one method, 2 seeds, trained enough to sit well above chance.
SUITE = """
name = "smoke-e2e"
seeds = [0, 1]
[train]
epochs = 20
lr = 0.05
[[datasets]]
name = "synthetic"
num_nodes = 300
avg_degree = 6
num_features = 16
num_classes = 3
[[archs]]
name = "gcn"
hidden = 16
[[methods]]
name = "qat"
bits = 8
[compare]
accuracy_tolerance = 0.005
"""


def _run(suite_path, out, data_root):
    from dqbench.run.runner import run_suite
    from dqbench.run.suite import load_suite

    summary = run_suite(load_suite(suite_path), out, data_root, progress=False, log=lambda *a: None)
    assert summary.failed == 0
    return {json.loads(line)["trial_id"]: json.loads(line)["metrics"]["test"] for line in open(out / "trials.jsonl")}


@pytest.mark.slow
def test_rerun_passes_and_broken_quantizer_fails(tmp_path, data_root, monkeypatch, capsys):
    from dqbench.quant.quantizer import FakeQuantize

    suite = tmp_path / "smoke-e2e.toml"
    suite.write_text(SUITE)
    first = _run(suite, tmp_path / "a", data_root)
    assert main(["baseline", "update", str(tmp_path / "a"), "--baseline", str(tmp_path / "bl")]) == 0

    again = _run(suite, tmp_path / "b", data_root)
    assert again == first, "the trainer is not deterministic per seed: identical runs gave different test scores"
    assert main(["compare", str(tmp_path / "b"), "--baseline", str(tmp_path / "bl")]) == 0

    init = FakeQuantize.__init__
    monkeypatch.setattr(FakeQuantize, "__init__", lambda self, bits, *a, **kw: init(self, 2, *a, **kw))
    broken = _run(suite, tmp_path / "c", data_root)  # the method silently quantizes to 2 bits
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "c"), "--baseline", str(tmp_path / "bl")]) == 1
    out = capsys.readouterr().out
    assert "| worse  | accuracy | synthetic/gcn/qat/int8" in out, (first, broken)
