"""Which PyTorch ops of a trial's training give different results at one thread and at the current thread count?
Every aten op of a few training epochs runs as usual and again on copies of its inputs at one thread; ops whose
outputs differ are counted. Random ops (their generator state) and allocations are skipped.

    DQBENCH_DATA_MIRROR=/path/to/mirror python scripts/thread_probe.py quickstart cora gin degree_quant 8 \\
        [--epochs 2] [--threads 2]

Before dqbench.archs.rows, batch_norm and linear this listed native_batch_norm(_backward), index_put (the
backward of ``x[index]``) and mm (a weight gradient); now it lists none (``empty`` and
``new_empty`` return uninitialised memory and are not counted).
"""

from __future__ import annotations

import argparse
import collections

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

SKIP = ("rand", "bernoulli", "normal", "uniform", "randperm", "multinomial", "exponential", "empty", "set_",
        "detach", "view", "lift_fresh", "_to_copy", "copy_")


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        return bool(((a == b) | (a.isnan() & b.isnan())).all()) if a.is_floating_point() else bool((a == b).all())
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return all(same(x, y) for x, y in zip(a, b))
    return True


def clone(t):
    return t.clone() if isinstance(t, torch.Tensor) else t


class OneThreadCheck(TorchDispatchMode):
    """Runs each op at the current thread count and, on cloned inputs, at one thread; counts the differences."""

    def __init__(self):
        super().__init__()
        self.calls, self.differ, self.shapes = collections.Counter(), collections.Counter(), {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if any(s in name for s in SKIP):
            return func(*args, **kwargs)
        copies, kw = tree_map(clone, args), tree_map(clone, kwargs)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            alone = func(*copies, **kw)
        finally:
            torch.set_num_threads(threads)
        out = func(*args, **kwargs)
        self.calls[name] += 1
        if not same(out, alone):
            self.differ[name] += 1
            self.shapes.setdefault(name, [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)])
        return out


def main() -> None:
    from dqbench import process_settings

    process_settings.apply()
    from dqbench.datasets.paths import resolve_root
    from dqbench.run.runner import plan_trials
    from dqbench.run.suite import load_suite
    from dqbench.run.trial import DatasetCache, accuracy_trial

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("suite", "dataset", "arch", "method", "bits"):
        parser.add_argument(name)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    suite, datasets = load_suite(args.suite), DatasetCache(resolve_root())
    filters = {"dataset": [args.dataset], "arch": [args.arch], "method": [args.method], "bits": [args.bits],
               "seed": [suite.seeds[0]]}
    trial = plan_trials(suite, datasets, filters)[0]
    trial.train.update(epochs=args.epochs)
    data = datasets.get(trial.dataset, trial.seed)
    with OneThreadCheck() as probe:
        accuracy_trial(trial, data)
    print(f"{trial.trial_id}: {sum(probe.calls.values())} op calls at {args.threads} threads checked")
    for name, count in probe.differ.most_common():
        print(f"  differs at 1 thread: {name} {count} of {probe.calls[name]} calls, e.g. shapes {probe.shapes[name]}")
    if not probe.differ:
        print("  none differs")


if __name__ == "__main__":
    main()
