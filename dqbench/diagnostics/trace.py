"""Saturation trace: what each activation quantizer does to its input during the first training steps of a trial.

Naive QAT tracks ranges with a slow moving average; when activations grow faster than their ranges follow, values
pile up at the range ends (saturate), and with a straight-through backward nothing pulls them back. ``trace_trial``
runs one suite trial's first N optimizer steps exactly as ``dqbench run`` trains it, and records per step and per
activation quantization point the fraction of (unprotected) elements outside the representable range, the
batch's largest magnitude against the range's, plus the loss, the spread of the model's outputs and the gradient
norm. ``dqbench trace SUITE [filters] --steps N`` writes it as CSV and prints the last step.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import nn

from dqbench.errors import DQBenchError
from dqbench.quant.fake_quant import range_ends
from dqbench.quant.quantizer import FakeQuantize

POINT_COLUMNS = ["step", "point", "saturated", "levels_used", "code_entropy_bits", "batch_absmax", "range_absmax"]
STEP_COLUMNS = ["step", "loss", "output_std", "distinct_outputs", "grad_norm"]


class _Recorder(nn.Module):
    """Wraps a FakeQuantize: calls it unchanged, then notes the saturated fraction under the range it used."""

    def __init__(self, inner: FakeQuantize):
        super().__init__()
        self.inner = inner
        self.active = True
        self.last: tuple[float, float, float, float, float] | None = None

    def forward(self, x, protect=None):
        out = self.inner(x, protect)
        if self.active and self.training and bool(self.inner.observer.initialized):
            self.last = saturation(x.detach(), self.inner, protect)
        return out


def saturation(x: torch.Tensor, quantizer: FakeQuantize, protect: torch.Tensor | None = None):
    """(fraction of the quantized rows' elements outside the representable range, fraction of the 2^bits integer
    levels their codes use, entropy of their codes in bits, their largest magnitude, the range's largest
    magnitude). A value is saturated when its rounded code falls outside [qmin, qmax] (more than half a step beyond
    an end); a range much wider than the values uses few levels; values concentrated on few codes (most of them on
    one or two, a handful of outliers on the rest) show as an entropy far below the bit width even where every
    level is used."""
    qp = quantizer.qparams()
    lo, hi = range_ends(qp.scale, qp.zero_point, qp.qmin, qp.qmax)
    if protect is not None:
        x = x[~protect]
    if x.numel() == 0:
        return 0.0, 0.0, 0.0, 0.0, max(abs(lo), abs(hi))
    r = torch.round(x / qp.scale) + qp.zero_point
    outside = int(torch.count_nonzero((r < qp.qmin) | (r > qp.qmax))) / r.numel()
    n = qp.qmax - qp.qmin + 1
    codes = torch.nan_to_num(r.clamp(qp.qmin, qp.qmax), nan=qp.qmax + 1) - qp.qmin  # a diverged value: no level
    counts = torch.bincount(codes.reshape(-1).long(), minlength=n + 1)[:n]
    levels = int(torch.count_nonzero(counts)) / n
    p = counts[counts > 0].double() / max(int(counts.sum()), 1)
    entropy = float(-(p * torch.log2(p)).sum()) if p.numel() > 1 else 0.0
    return outside, levels, entropy, float(x.abs().max()), max(abs(lo), abs(hi))


class _Done(Exception):
    """Raised from the step hook once the trace has its steps: ends ``fit`` there."""


def trace_trial(trial, dataset, steps: int, every: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train ``trial`` (a TrialSpec) on ``dataset`` for ``steps`` optimizer steps; returns (points, steps) frames
    with ``POINT_COLUMNS`` and ``STEP_COLUMNS``. The points are recorded at every ``every``-th step and the last
    (measuring them costs more than the step itself on large graphs). The steps are ``dqbench run``'s own: the
    runner's trial (seeding, model, ``fit`` with its learning-rate schedule and per-epoch validation), stopped
    after ``steps`` (or where the trial stops early)."""
    from dqbench.run.trial import accuracy_trial

    if steps < 1 or every < 1:
        raise DQBenchError(f"--steps and --every must be at least 1, got {steps} and {every}")
    recorders: dict[str, _Recorder] = {}
    points, rows = [], []

    def activate(step: int):
        for rec in recorders.values():
            rec.last, rec.active = None, step % every == 0 or step == steps - 1

    def on_prepared(model):
        for p in model.quant_points():
            q = model.get_quantizer(p.path, p.role)
            if p.kind != "param" and isinstance(q, FakeQuantize):
                recorders[f"{p.path}:{p.role}"] = rec = _Recorder(q)
                model.set_quantizer(p.path, p.role, rec)
        if not recorders:
            raise DQBenchError(f"method '{trial.method.label}' puts no activation quantizer in the model; "
                               "trace a quantized method")
        activate(0)

    def on_step(model, out, loss):
        step = len(rows)
        grad = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
        logits = out.detach()
        rows.append([step, float(loss.detach()), float(logits.std()) if logits.numel() > 1 else 0.0,
                     int(torch.unique(logits, dim=0).size(0)), float(grad.norm())])
        points.extend([step, name, *rec.last] for name, rec in recorders.items() if rec.last is not None)
        if step + 1 == steps:
            raise _Done
        activate(step + 1)

    try:
        accuracy_trial(trial, dataset, on_step=on_step, on_prepared=on_prepared)
    except _Done:
        pass
    return pd.DataFrame(points, columns=POINT_COLUMNS), pd.DataFrame(rows, columns=STEP_COLUMNS)


def main_trace(args, root) -> int:
    """``dqbench trace``: one suite trial's first training steps, per activation quantizer."""
    from tabulate import tabulate

    from dqbench.run.runner import plan_trials
    from dqbench.run.suite import check_filters, load_suite
    from dqbench.run.trial import DatasetCache

    suite = load_suite(args.suite)
    if suite.kind != "accuracy":
        raise DQBenchError(f"suite '{suite.name}' is a {suite.kind} suite; trace an accuracy suite's trial")
    check_filters(suite, args.filters)
    datasets = DatasetCache(root)
    trials = plan_trials(suite, datasets, args.filters)
    trials = [t for t in trials if t.seed == trials[0].seed and t.fold == trials[0].fold] if trials else []
    if len(trials) != 1:
        raise DQBenchError(f"the filters select {len(trials)} trials of suite '{suite.name}' (first seed and fold); "
                           "narrow them with --dataset/--arch/--method/--bits (and --seed/--fold) to exactly one")
    trial = trials[0]
    points, steps = trace_trial(trial, datasets.get(trial.dataset, trial.seed), args.steps, args.every)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = trial.trial_id.rsplit("-", 1)[0]
    points.to_csv(out / f"{stem}-points.csv", index=False)
    steps.to_csv(out / f"{stem}-steps.csv", index=False)
    last = points[points["step"] == points["step"].max()].drop(columns="step")
    stride = max(1, len(steps) // 8)
    text = "\n".join([
        f"# Saturation trace: `{trial.trial_id}`", "",
        f"Produced by: `{args.invocation}` (suite `{suite.name}`, trial `{trial.trial_id}`: the first "
        f"{len(steps)} optimizer steps of `dqbench run`'s training, seed {trial.seed}, fold {trial.fold}).", "",
        "saturated: fraction of the quantized (unprotected) elements more than half a step outside the range; "
        "levels_used: fraction of the 2^bits integer codes their values use; code_entropy_bits: entropy of "
        "their codes (at most the bit width; low where most values share a few codes); "
        "batch_absmax / range_absmax: the largest magnitude that reached the point against the range's.", "",
        "## Steps", "",
        tabulate(steps.iloc[::stride], headers="keys", tablefmt="github", showindex=False, floatfmt=".4g"), "",
        f"## Activation quantizers at step {int(steps['step'].iloc[-1])}", "",
        tabulate(last, headers="keys", tablefmt="github", showindex=False, floatfmt=".3g"), "",
        f"Every step and point: `{stem}-points.csv`, `{stem}-steps.csv`.", ""])
    (out / f"{stem}.md").write_text(text)
    print(text)
    return 0
