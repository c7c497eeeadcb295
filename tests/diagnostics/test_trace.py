"""Saturation trace: the measure itself, one trial's steps on smoke data, and the CLI's one-line errors."""

import pandas as pd
import pytest
import torch

from dqbench.cli import main
from dqbench.diagnostics.trace import POINT_COLUMNS, STEP_COLUMNS, saturation, trace_trial
from dqbench.quant.observers import MomentumObserver
from dqbench.quant.quantizer import FakeQuantize
from dqbench.run.suite import expand, load_suite


def quantizer_over(lo: float, hi: float) -> FakeQuantize:
    q = FakeQuantize(8, signed=True, observer=MomentumObserver(0.01))
    q.observer(torch.tensor([lo, hi]))
    return q


def test_saturation_counts_values_beyond_half_a_step_outside_the_range():
    q = quantizer_over(-1.0, 1.0)
    x = torch.tensor([-3.0, -1.0, 0.0, 0.5, 1.0, 1.001, 2.0, 5.0])
    frac, levels, _, batch_max, range_max = saturation(x, q)
    assert frac == pytest.approx(3 / 8)  # -3, 2, 5 (1.001 is within half a step of the top)
    assert batch_max == 5.0 and range_max == pytest.approx(1.0, rel=0.02)
    assert levels == pytest.approx(5 / 256)  # codes -128 (-3, -1), -1 (0), 63 (0.5), 126 (1.0), 127 (1.001, 2, 5)


def test_levels_used_shows_a_range_too_wide_for_the_values():
    q = quantizer_over(-100.0, 100.0)
    x = torch.linspace(-1.0, 1.0, 1000)
    _, levels, _, _, _ = saturation(x, q)
    assert levels == pytest.approx(3 / 256)  # step 200/255: only the codes of -0.78, 0 and +0.78 are reached


def test_code_entropy_shows_values_concentrated_on_few_codes():
    q = quantizer_over(-1.0, 1.0)
    spread = torch.linspace(-1.0, 1.0, 256 * 40) * 1.003  # a hair past both ends: every code reached
    _, levels, entropy, _, _ = saturation(spread, q)
    assert levels == 1.0 and entropy == pytest.approx(8.0, abs=0.01)  # every code, equally often
    concentrated = torch.cat([torch.zeros(99 * 256 * 40), spread])  # 99% on one code, 1% spread over all
    _, levels, entropy, _, _ = saturation(concentrated, q)
    assert levels == 1.0 and 0.1 < entropy < 0.2  # all levels used, yet 0.16 bits of information
    assert saturation(torch.zeros(10), q)[2] == 0.0


def test_saturation_leaves_protected_rows_out():
    q = quantizer_over(0.0, 1.0)
    x = torch.tensor([[5.0, 5.0], [0.5, 0.5], [0.2, 9.0]])
    frac, _, _, batch_max, _ = saturation(x, q, protect=torch.tensor([True, False, False]))
    assert frac == pytest.approx(1 / 4) and batch_max == 9.0


def _trial(**filters):
    suite = load_suite("smoke")
    return [t for t in expand(suite, {}, {k: [v] for k, v in filters.items()}) if t.seed == 0][0]


def test_first_step_never_saturates_under_momentum_ranges(data_root):
    """A momentum observer starts at its first batch's own min/max: nothing can saturate at step 0."""
    from dqbench.run.trial import DatasetCache

    trial = _trial(arch="gcn", method="qat", bits=8)
    points, steps = trace_trial(trial, DatasetCache(data_root).get(trial.dataset, 0), steps=6)
    assert list(points.columns) == POINT_COLUMNS and list(steps.columns) == STEP_COLUMNS
    assert list(steps["step"]) == list(range(6)) and steps["loss"].notna().all()
    first = points[points["step"] == 0]
    assert len(first) == points["point"].nunique() and (first["saturated"] == 0).all()
    assert "convs.0:aggregate" in set(points["point"]) and not any(p.endswith(":weight") for p in points["point"])
    assert points["saturated"].between(0, 1).all() and (steps["distinct_outputs"] > 1).all()
    assert points["levels_used"].between(0, 1).all() and (points["levels_used"] > 0).all()
    assert points["code_entropy_bits"].between(0, 8).all()


GRAPH_SUITE = """
name = "graphs"
seeds = [0]
[train]
epochs = 3
lr = 0.02
batch_size = 8
lr_decay_step = 1
lr_decay_factor = 0.1
select = "val_loss"
[[datasets]]
name = "synthetic-graphs"
num_graphs = 90
[[archs]]
name = "gin"
hidden = 16
layers = 2
[[methods]]
name = "degree_quant"
bits = 4
"""


def _run_step_losses(trial, dataset, monkeypatch) -> list[float]:
    """The loss of every optimizer step of the trial as ``dqbench run`` trains it."""
    import dqbench.run.train
    from dqbench.run.trial import accuracy_trial

    losses, fit = [], dqbench.run.train.fit

    def spy(*args, **kwargs):
        return fit(*args, on_step=lambda model, out, loss: losses.append(float(loss)), **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(dqbench.run.train, "fit", spy)
        accuracy_trial(trial, dataset, type("Bar", (), {"set_postfix_str": lambda *a, **k: None})())
    return losses


@pytest.mark.parametrize("method", ["qat", "degree_quant"])
def test_trace_trains_exactly_as_dqbench_run(data_root, monkeypatch, method):
    """A node task's step is fit's epoch: the traced losses are the run's training losses, to the bit."""
    import dataclasses

    from dqbench.run.trial import DatasetCache

    trial = _trial(arch="gin", method=method, bits=4)
    trial = dataclasses.replace(trial, train={**trial.train, "epochs": 4})
    dataset = DatasetCache(data_root).get(trial.dataset, 0)
    losses = _run_step_losses(trial, dataset, monkeypatch)
    _, steps = trace_trial(trial, dataset, steps=4)
    assert len(losses) == 4 and list(steps["loss"]) == losses


def test_trace_over_several_epochs_follows_the_run_schedule_and_validation(tmp_path, data_root, monkeypatch):
    """Graph task, 3 epochs of mini-batches with the learning rate cut 10x after each: the trace's steps are the
    run's, to the bit, across the epoch boundaries (where the run validates and decays the learning rate)."""
    from dqbench.run.trial import DatasetCache

    (tmp_path / "graphs.toml").write_text(GRAPH_SUITE)
    trial = expand(load_suite(str(tmp_path / "graphs.toml")), {"synthetic-graphs": 3})[0]
    dataset = DatasetCache(data_root).get(trial.dataset, 0)
    losses = _run_step_losses(trial, dataset, monkeypatch)
    per_epoch = len(losses) // 3
    assert per_epoch >= 2 and len(losses) == 3 * per_epoch
    _, steps = trace_trial(trial, dataset, steps=len(losses))
    assert list(steps["loss"]) == losses
    _, part = trace_trial(trial, dataset, steps=per_epoch + 1)  # stops one step into the second epoch
    assert list(part["loss"]) == losses[:per_epoch + 1]


def test_every_records_points_at_those_steps_and_the_last(data_root):
    from dqbench.run.trial import DatasetCache

    trial = _trial(arch="gcn", method="qat", bits=8)
    points, steps = trace_trial(trial, DatasetCache(data_root).get(trial.dataset, 0), steps=6, every=4)
    assert set(points["step"]) == {0, 4, 5} and len(steps) == 6


def test_degree_quant_trace_counts_only_unprotected_rows(data_root):
    from dqbench.run.trial import DatasetCache

    trial = _trial(arch="gin", method="degree_quant", bits=4)
    points, _ = trace_trial(trial, DatasetCache(data_root).get(trial.dataset, 0), steps=3)
    assert len(points) > 0 and points["saturated"].between(0, 1).all()


def test_trace_cli_writes_csvs_and_a_report(tmp_path, data_root, capsys):
    out = tmp_path / "trace"
    args = ["trace", "smoke", "--arch", "gcn", "--method", "qat", "--bits", "4", "--steps", "3", "--out", str(out),
            "--cache", str(data_root.cache)]
    assert main(args) == 0
    stem = "synthetic-gcn-qat-int4-s0-f0"
    assert len(pd.read_csv(out / f"{stem}-steps.csv")) == 3
    assert set(pd.read_csv(out / f"{stem}-points.csv")["step"]) == {0, 1, 2}
    report = (out / f"{stem}.md").read_text()
    assert "dqbench trace smoke --arch gcn" in report and "## Activation quantizers at step 2" in report


@pytest.mark.parametrize("extra, message", [
    (["--arch", "gcn"], "select 7 trials"),
    (["--arch", "gcn", "--method", "fp32"], "no activation quantizer"),
    (["--arch", "gcn", "--method", "qat", "--bits", "8", "--steps", "0"], "--steps"),
    (["--arch", "gcn", "--method", "qat", "--bits", "8", "--every", "0"], "--every"),
    (["--arch", "gcn", "--method", "nope"], "nope"),
])
def test_trace_bad_input_is_one_line(tmp_path, data_root, capsys, extra, message):
    args = ["trace", "smoke", "--out", str(tmp_path), "--cache", str(data_root.cache)] + extra
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
