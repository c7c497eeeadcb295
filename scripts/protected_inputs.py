"""Where the wide aggregation ranges of Degree-Quant's default come from, on REDDIT-BINARY fold 1 (INT4 GIN, the
paper_graph trial): in its first training step, capture layer 1's input and aggregation (with their protection
masks) and count the unprotected rows whose aggregate is large and that have a protected in-neighbour.

Protected rows pass every quantizer unclamped, so their values enter their neighbours' sums; the neighbours are
observed by the aggregation range. Run from the repository root (DQBENCH_DATA_MIRROR or DQBENCH_CACHE as for
`dqbench run`):
`python scripts/protected_inputs.py > reports/trace_200_epochs/protected_inputs.txt`."""

import os

import torch
from torch import nn

from dqbench.datasets.paths import resolve_root
from dqbench.run.runner import plan_trials
from dqbench.run.suite import load_suite
from dqbench.run.trial import DatasetCache, accuracy_trial

LARGE = 20.0  # the no-mask trace's layer-1 aggregation range stays below 13


class _Stop(Exception):
    pass


class _Capture(nn.Module):
    def __init__(self, inner, store, name):
        super().__init__()
        self.inner, self.store, self.name = inner, store, name

    def forward(self, x, protect=None):
        self.store[self.name] = (x.detach().clone(), protect.clone())
        return self.inner(x, protect)


def main():
    torch.set_num_threads(1)
    datasets = DatasetCache(resolve_root(cache=os.environ.get("DQBENCH_CACHE"),
                                      mirror=os.environ.get("DQBENCH_DATA_MIRROR")))
    filters = {"dataset": ["reddit-binary"], "method": ["degree_quant"], "bits": [4], "fold": [1]}
    trial = plan_trials(load_suite("paper_graph"), datasets, filters)[0]
    dataset = datasets.get(trial.dataset, trial.seed)
    seen = {}

    def on_prepared(model):
        for role in ("input", "aggregate"):
            model.set_quantizer("convs.1", role, _Capture(model.get_quantizer("convs.1", role), seen, role))
        model.register_forward_pre_hook(lambda module, args: seen.__setitem__("batch", args[0]))

    def on_step(model, out, loss):
        raise _Stop

    try:
        accuracy_trial(trial, dataset, on_step=on_step, on_prepared=on_prepared)  # as dqbench run trains it
    except _Stop:
        pass
    (x, protected), (agg, _) = seen["input"], seen["aggregate"]
    src, dst = seen["batch"].edge_index
    near = torch.zeros(agg.size(0), dtype=torch.bool)
    near[dst[protected[src]]] = True
    large = ~protected & (agg.abs().amax(dim=1) > LARGE)
    print(f"trial {trial.trial_id}, first training step (batch of {agg.size(0)} nodes)")
    print(f"protected rows: {int(protected.sum())}")
    print(f"layer-1 input, largest magnitude: protected rows {float(x[protected].abs().max()):.2f}, "
          f"unprotected rows {float(x[~protected].abs().max()):.2f}")
    print(f"unprotected rows with a protected in-neighbour: {int((~protected & near).sum())} "
          f"of {int((~protected).sum())}")
    print(f"unprotected rows whose layer-1 aggregate exceeds {LARGE:g} in magnitude: {int(large.sum())}, "
          f"of them with a protected in-neighbour: {int((large & near).sum())}")


if __name__ == "__main__":
    main()
