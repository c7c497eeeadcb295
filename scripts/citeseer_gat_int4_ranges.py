"""The activation ranges that INT4 training leaves at each quantization point of CiteSeer GAT (seed 0):
naive QAT (EMA of min/max), Degree-Quant (running extremes of batch percentiles, its default) and Degree-Quant
with an EMA of the batch percentiles (dq_ema0.01). Same trials, seeds and settings as suites/citeseer_gat_int4.toml.

    DQBENCH_DATA_MIRROR=/path/to/mirror python scripts/citeseer_gat_int4_ranges.py \\
        > reports/citeseer_gat_int4/ranges.txt
"""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dqbench.datasets.paths import resolve_root  # noqa: E402
from dqbench.models import build_method, build_model  # noqa: E402
from dqbench.quant.quantizer import FakeQuantize  # noqa: E402
from dqbench.registry import DATASETS  # noqa: E402
from dqbench.run.suite import expand, load_suite  # noqa: E402
from dqbench.run.train import fit, seed_everything  # noqa: E402

METHODS = ["qat", "degree_quant", "dq_ema0.01"]


def main() -> None:
    torch.set_num_threads(1)
    suite = load_suite(ROOT / "suites" / "citeseer_gat_int4.toml")
    dataset = DATASETS.get("citeseer")(root=resolve_root())
    ranges, tests = {}, {}
    for trial in expand(suite, filters={"dataset": ["citeseer"], "seed": [0], "method": METHODS}):
        seed_everything(trial.seed)
        model, method = build_model(trial.config(), dataset), build_method(trial.config())
        split = dataset.split(trial.fold)
        tests[trial.method.label] = fit(model, dataset, split, method, trial.train, trial.seed)["test"]
        ranges[trial.method.label] = {name: (float(q.observer.lo), float(q.observer.hi))
                                      for name, q in model.named_modules()
                                      if isinstance(q, FakeQuantize) and "weight" not in name}
    print("test accuracy, seed 0: " + ", ".join(f"{m} {100 * tests[m]:.1f}" for m in METHODS))
    print(f"| quantization point | {' | '.join(METHODS)} |")
    print(f"|---|{'---|' * len(METHODS)}")
    for name in ranges[METHODS[0]]:
        cells = [f"[{ranges[m][name][0]:.3g}, {ranges[m][name][1]:.3g}]" for m in METHODS]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
