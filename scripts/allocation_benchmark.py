"""Page faults and seconds per epoch with PyTorch's default CPU allocation and with transparent huge pages
(``THP_MEM_ALLOC_ENABLE=1``, what every ``dqbench`` process sets; see ``dqbench/process_settings.py``), measured
side by side: for each workload, one fresh process per setting trains the same trial for a few epochs, and the
child's minor page faults, system time and seconds per epoch are printed with their ratio.

    DQBENCH_DATA_MIRROR=/path/to/mirror python scripts/allocation_benchmark.py [--epochs 20] [--graph-epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

# (suite, dataset, arch, method, bits): the quickstart's Cora and CiteSeer GIN, paper_graph's REDDIT-BINARY and
# ogbg-molhiv GIN, each with Degree-Quant at INT4 (the heaviest training path) and FP32.
WORKLOADS = [
    ("quickstart", "cora", "gin", "fp32", "32"),
    ("quickstart", "cora", "gin", "degree_quant", "4"),
    ("quickstart", "citeseer", "gin", "fp32", "32"),
    ("quickstart", "citeseer", "gin", "degree_quant", "4"),
    ("paper_graph", "reddit-binary", "gin", "degree_quant", "4"),
    ("paper_graph", "ogbg-molhiv", "gin", "degree_quant", "4"),
]
SETTINGS = {"4 KB pages": "0", "huge pages": "1"}


def child(suite: str, dataset: str, arch: str, method: str, bits: str, epochs: int, threads: int) -> None:
    """Train one trial for ``epochs`` epochs in this process and print its seconds per epoch (training and the
    validation pass, as ``train_time_s`` counts them), minor faults and system time as JSON."""
    import torch

    from dqbench.datasets.paths import resolve_root
    from dqbench.run.runner import plan_trials
    from dqbench.run.suite import load_suite
    from dqbench.run.trial import DatasetCache, accuracy_trial

    torch.set_num_threads(threads)
    spec = load_suite(suite)
    datasets = DatasetCache(resolve_root())
    filters = {"dataset": [dataset], "arch": [arch], "method": [method], "bits": [bits], "seed": [0], "fold": [0]}
    trial = plan_trials(spec, datasets, filters)[0]
    trial.train.update(epochs=epochs, patience=0)
    data = datasets.get(trial.dataset, trial.seed)
    before = resource.getrusage(resource.RUSAGE_SELF)
    metrics = accuracy_trial(trial, data)
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"epoch_s": metrics["train_time_s"] / metrics["epochs_run"],
                      "faults": after.ru_minflt - before.ru_minflt, "sys_s": after.ru_stime - before.ru_stime}))


def measure(workload, thp: str, epochs: int, threads: int) -> dict:
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": thp}
    cmd = [sys.executable, __file__, "--child", *workload, "--epochs", str(epochs), "--threads", str(threads)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(workload)}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the node-task trials (default 20)")
    parser.add_argument("--graph-epochs", type=int, default=2, help="epochs of the graph-task trials (default 2)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dataset", action="append", help="only these workloads' datasets (repeatable)")
    parser.add_argument("--child", nargs=5, metavar=("SUITE", "DATASET", "ARCH", "METHOD", "BITS"))
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.epochs, args.threads)
    print(f"{args.epochs} epochs per node-task trial, {args.graph_epochs} per graph-task trial, {args.threads} "
          "thread(s); s/epoch = training + validation pass (dataset loading and the test pass excluded); "
          f"kernel THP mode: {open('/sys/kernel/mm/transparent_hugepage/enabled').read().strip()}")
    print(f"{'workload':<46} {'setting':<11} {'minor faults':>13} {'sys s':>7} {'s/epoch':>8}")
    for workload in [w for w in WORKLOADS if not args.dataset or w[1] in args.dataset]:
        epochs = args.epochs if workload[0] == "quickstart" else args.graph_epochs
        rows = {name: measure(workload, thp, epochs, args.threads) for name, thp in SETTINGS.items()}
        for name, r in rows.items():
            print(f"{' '.join(workload):<46} {name:<11} {r['faults']:>13,} {r['sys_s']:>7.2f} {r['epoch_s']:>8.3f}")
        base, thp = rows["4 KB pages"], rows["huge pages"]
        print(f"{'':<46} {'ratio':<11} {base['faults'] / max(thp['faults'], 1):>12.1f}x {'':>7} "
              f"{base['epoch_s'] / thp['epoch_s']:>7.2f}x")


if __name__ == "__main__":
    main()
