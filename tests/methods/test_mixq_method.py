"""The mixq method: search with a size penalty, then fixed widths; lambda trades accuracy for bits."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torch.nn.functional as F

from dqbench.cli import main
from dqbench.errors import DQBenchError
from dqbench.methods.mixq import expected_avg_bits, mix_quantizers
from dqbench.registry import ARCHS, METHODS


@pytest.mark.parametrize("arch", ["gcn", "gin", "gat"])
def test_search_step_trains_the_choice_then_fix_ends_it(arch, node_graph):
    torch.manual_seed(0)
    method = METHODS.get("mixq")(bits=8, size_lambda=1.0, search_epochs=2)
    model = method.prepare(ARCHS.get(arch)(in_channels=8, out_channels=3, task="node", hidden=16))
    qs = mix_quantizers(model)
    assert len(qs) == len(model.quant_points()) and all(q.candidates == (2, 4, 8) for q in qs)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for epoch in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(node_graph), node_graph.y)
        extra = method.penalty(model)
        (loss if extra is None else loss + extra).backward()
        opt.step()
        assert method.selectable(epoch, 3) == (epoch >= 1)
        method.end_epoch(model, epoch, 3)
        if epoch == 0:
            assert extra is None or float(expected_avg_bits(model)) < 14 / 3 + 1e-6  # moved below uniform
    assert not any(q.searching for q in qs) and method.penalty(model) is None


def test_widths_named_in_role_bits_are_not_searched():
    method = METHODS.get("mixq")(bits=8, role_bits={"weight": 4})
    model = method.prepare(ARCHS.get("gcn")(in_channels=8, out_channels=3, task="node"))
    assert all(model.get_quantizer(p.path, p.role).bits == 4 for p in model.quant_points() if p.role == "weight")
    assert len(mix_quantizers(model)) == sum(p.role != "weight" for p in model.quant_points())


@pytest.mark.parametrize("kwargs, says", [
    ({"bits": 8, "candidates": [2, 4]}, "must be the widest candidate"),
    ({"bits": 8, "candidates": [2, 9]}, "bit width 9 is not supported"),
    ({"bits": 8, "candidates": []}, "non-empty list"),
    ({"size_lambda": -1}, "size_lambda must be a number >= 0"),
    ({"search_epochs": 0}, "search_epochs must be a positive integer"),
])
def test_bad_options_are_refused(kwargs, says):
    with pytest.raises(DQBenchError, match=says):
        METHODS.get("mixq")(**kwargs)


def test_a_larger_lambda_keeps_fewer_bits(tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(textwrap.dedent("""
        name = "mixq_lambda"
        seeds = [0]
        [train]
        epochs = 30
        lr = 0.05
        [[datasets]]
        name = "synthetic"
        num_nodes = 200
        [[archs]]
        name = "gcn"
        hidden = 16
        [[methods]]
        name = "mixq"
        label = "mixq_l0"
        bits = [8]
        size_lambda = 0.0
        [[methods]]
        name = "mixq"
        label = "mixq_l5"
        bits = [8]
        size_lambda = 5.0
    """))
    out = tmp_path / "run"
    assert main(["run", str(suite), "--out", str(out), "--no-progress", "--no-report"]) == 0
    records = {json.loads(line)["config"]["method"]: json.loads(line) for line in open(out / "trials.jsonl")}
    bits = {k: (r["metrics"]["avg_bits"], r["metrics"]["act_avg_bits"]) for k, r in records.items()}
    assert bits["mixq_l5"][1] < bits["mixq_l0"][1] and bits["mixq_l5"][1] <= 4.0, bits
    assert all(r["metrics"]["best_epoch"] >= 14 for r in records.values())  # chosen after the 15 search epochs
