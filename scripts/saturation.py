"""How many elements saturate per quantizer call while Degree-Quant trains REDDIT-BINARY's GIN: the workload of
tests/benchmarks/test_dq_overhead.py (fold 0, 4 training batches of 128 graphs, one torch thread), six rounds.

    DQBENCH_DATA_MIRROR=/path/to/mirror python scripts/saturation.py [BITS]

Per round: the quantizer calls whose gradient is clipped, how many of the large ones (over 10,000 elements) have
nothing saturated, the largest and the median saturated fraction, and the elements covered (a byte mask each
would take that many bytes). Why the clipping backward keeps the saturated elements as a list of indices.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dqbench.quant.fake_quant as fq  # noqa: E402
from dqbench.datasets.paths import resolve_root  # noqa: E402
from dqbench.registry import DATASETS  # noqa: E402
from tests.benchmarks.test_dq_overhead import benchmark_batches, make_graph_steps, paper_graph_batch_size  # noqa: E402

ROUNDS, LARGE = 6, 10_000


def main(bits: int) -> None:
    torch.set_num_threads(1)
    ds = DATASETS.get("reddit-binary")(root=resolve_root())
    train = ds.split(0).train
    size = paper_graph_batch_size("reddit-binary")
    batches = benchmark_batches(train, size)
    calls = []
    clip = fq.clip_gradient

    def counting(saturated, grad):
        calls.append((grad.numel(), int(fq.saturation_mask(saturated, grad).sum())))
        return clip(saturated, grad)

    fq.clip_gradient = counting
    steps = make_graph_steps("degree_quant", batches, ds, bits)
    print(f"REDDIT-BINARY GIN INT{bits}, degree_quant, fold 0, {len(batches)} batches of {size} graphs per round")
    for r in range(ROUNDS):
        calls.clear()
        steps()
        large = [(n, s) for n, s in calls if n > LARGE]
        fractions = [s / n for n, s in large]
        print(f"round {r}: {len(calls)} clipped calls, {len(large)} over {LARGE:,} elements, "
              f"{sum(s == 0 for _, s in large)} of those with nothing saturated; saturated fraction max "
              f"{max(fractions):.4%}, median {statistics.median(fractions):.4%}; "
              f"{sum(n for n, _ in calls):,} elements in all ({sum(n for n, _ in calls) / len(batches) / 1e6:.1f} "
              "MB of byte masks a step)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
