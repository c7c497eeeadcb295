"""Does the integer engine give the simulated (fake-quant) model's predictions on trained models?

Re-trains paper_node's Cora Degree-Quant trials (GCN, GIN, GAT; INT8 and INT4; seed 0) exactly as `dqbench run`
does, converts each model, runs it both ways and compares the test predictions. Run from the repository root:

    DQBENCH_DATA_MIRROR=/path/to/mirror python scripts/engine_agreement.py \
        > reports/engine_agreement/agreement.txt
"""

import json
from pathlib import Path

import torch

from dqbench.datasets.paths import resolve_root
from dqbench.engine import lower
from dqbench.models import build_method
from dqbench.run.suite import expand, load_suite
from dqbench.run.trial import DatasetCache, accuracy_trial

torch.set_num_threads(1)  # as the records were produced (`dqbench run paper_node ... --threads 1`)
records = {json.loads(line)["trial_id"]: json.loads(line) for line in
           Path("reports/paper_node/trials.jsonl").read_text().splitlines()}
suite = load_suite("paper_node")
trials = expand(suite, filters={"dataset": ["cora"], "method": ["degree_quant"], "seed": [0]})
dataset = DatasetCache(resolve_root()).get(trials[0].dataset, 0)
data = dataset.split(0).data
test = data.test_mask
print("Cora, Degree-Quant, seed 0: test accuracy (%) of the simulated model and of the integer engine, and how many")
print("test predictions and output codes they share. `record`: the paper_node record of the same trial.\n")
print("| arch | bits | record | simulated | engine | test predictions equal | output codes equal |")
print("|---|---|---|---|---|---|---|")
for trial in trials:
    held = {}
    accuracy_trial(trial, dataset, on_prepared=lambda m: held.setdefault("model", m))
    conv = build_method(trial.config()).convert(held["model"].eval())
    prog = lower(conv)
    with torch.no_grad():
        sim, eng = conv.simulate()(data), prog.run(data)
    step = prog.ops[-1].req.out_float.scale
    codes = ((eng - sim).abs() / step <= 0.5).float().mean().item() * 100
    acc = {k: (v.argmax(1) == data.y)[test].float().mean().item() * 100 for k, v in (("sim", sim), ("eng", eng))}
    agree = (sim.argmax(1) == eng.argmax(1))[test].float().mean().item() * 100
    rec = records.get(trial.trial_id, {}).get("metrics", {}).get("test")
    rec = f"{rec * 100:.1f}" if rec is not None else "–"
    print(f"| {trial.arch.label.upper()} | {trial.bits} | {rec} | {acc['sim']:.1f} | {acc['eng']:.1f} | {agree:.1f}% "
          f"| {codes:.2f}% |")
