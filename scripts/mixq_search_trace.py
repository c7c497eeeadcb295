"""Where does the MixQ-style search put its probability? Trains sota_node's Cora GCN `mixq_size_lambda0.0` trial
(seed 0) exactly as `dqbench run` does (`fit`, one thread) and prints, after epochs 1, 20, 60 and 100 (the end of
its search), the training loss and each point's probabilities for 2, 4 and 8 bits. Run from the repository root:

    DQBENCH_DATA_MIRROR=/path/to/mirror python scripts/mixq_search_trace.py > reports/sota_node/mixq_search.txt
"""

from __future__ import annotations

import torch

from dqbench.datasets.paths import resolve_root
from dqbench.methods.mixq import mix_quantizers
from dqbench.models import build_method, build_model
from dqbench.run.suite import expand, load_suite
from dqbench.run.train import fit, seed_everything
from dqbench.run.trial import DatasetCache

SHOWN = (1, 20, 60, 100)


def main() -> None:
    suite = load_suite("sota_node")
    trial = next(t for t in expand(suite) if t.dataset.label == "cora" and t.arch.label == "gcn"
                 and t.method.label == "mixq_size_lambda0.0" and t.seed == 0)
    torch.set_num_threads(1)
    dataset = DatasetCache(resolve_root()).get(trial.dataset, trial.seed)
    config = trial.config()
    seed_everything(trial.seed)
    model, method = build_model(config, dataset), build_method(config)
    prepared = {}
    print(f"trial {trial.trial_id}: search epochs {method.search_end(trial.train['epochs'])} of "
          f"{trial.train['epochs']}; probabilities of (2, 4, 8) bits per point")

    def on_epoch(epoch: int, info: dict) -> None:
        if epoch + 1 not in SHOWN:
            return
        print(f"after epoch {epoch + 1}: training loss {info['loss']:.3f} (chance: ln 7 = 1.946)")
        for name, q in prepared["points"]:
            print(f"  {name:<22} " + ", ".join(f"{float(p):.2f}" for p in q.probabilities().detach()))

    def on_prepared(m) -> None:
        prepared["points"] = [(n.replace(".quant.", ":"), q) for n, q in m.named_modules() if q in mix_quantizers(m)]

    metrics = fit(model, dataset, dataset.split(trial.fold), method, trial.train, trial.seed, on_epoch=on_epoch,
                  on_prepared=on_prepared)
    print(f"test {100 * metrics['test']:.2f} (the trial's record: the same run)")


if __name__ == "__main__":
    main()
