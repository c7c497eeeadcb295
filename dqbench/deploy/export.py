"""``dqbench export RUN TRIAL_ID -o model.dqb``: a recorded trial's model as one integer-program file.

Run directories keep records, not weights; a record is a pure function of its configuration, so the model is
rebuilt from the record's configuration: an accuracy trial is trained again (its metrics must equal the record's,
timings aside, or nothing is written), a latency trial's model is built and calibrated as the harness does. The
file is then loaded back and must give the in-process program's logits, bit for bit, on the trial's test graph
(node tasks: the whole graph; graph tasks: the test split in one batch)."""

from __future__ import annotations

from pathlib import Path

import torch

from dqbench import __version__
from dqbench.engine import load, lower
from dqbench.errors import DQBenchError
from dqbench.run.records import read_records
from dqbench.run.store import RECORDS


def find_record(run: str | Path, trial_id: str) -> dict:
    """The record of ``trial_id`` in ``run``, finished ok."""
    path = Path(run) / RECORDS
    if not path.is_file():
        raise DQBenchError(f"{run}: no {RECORDS} there; give a dqbench run directory")
    records = {r["trial_id"]: r for r in read_records(path)[0]}
    record = records.get(trial_id)
    if record is None:
        import difflib

        close = difflib.get_close_matches(trial_id, records, n=1)
        hint = f"did you mean {close[0]}?" if close else f"the trial ids are the 'trial_id' fields of {path}"
        raise DQBenchError(f"{run} has no trial '{trial_id}'; {hint}")
    if record.get("status") != "ok":
        raise DQBenchError(f"trial {trial_id} in {run} is '{record.get('status')}', not ok: nothing to export")
    return record


def export_trial(run: str | Path, trial_id: str, out: str | Path, root, backend: str = "auto") -> dict:
    """Rebuild, lower, write and check the model of ``trial_id``; returns what was checked."""
    from dqbench.registry import DATASETS

    record = find_record(run, trial_id)
    config = record["config"]
    if config.get("bits", 32) > 8:
        raise DQBenchError(f"trial {trial_id} runs at {config.get('bits')} bits; the integer engine exports 2-8 bit "
                           "quantized models only (pick a ptq, qat or degree_quant trial)")
    dataset = DATASETS.get(config["dataset_name"])(root=root, seed=config["seed"], **config["dataset_kwargs"])
    if record.get("kind") == "latency":
        converted, graph, rows = _latency_model(config, dataset)
    else:
        converted, graph, rows = _retrained(record, dataset)
    prog = lower(converted, backend=backend)
    out = Path(out)
    prog.save(out, source={"run": str(run), "trial_id": trial_id, "kind": record.get("kind"), "config": config,
                           "method_version": record.get("method_version"), "dqbench": __version__,
                           "record_metrics": {k: v for k, v in record.get("metrics", {}).items()
                                              if isinstance(v, (int, float, str, bool))}})
    with torch.no_grad():
        expected = prog.run(graph)
        got = load(out, backend=prog.backend).run(graph)
    if not torch.equal(expected, got):
        out.unlink(missing_ok=True)
        raise DQBenchError(f"the exported file gave other logits than the in-process program on {trial_id}'s test "
                           "graph; nothing was written (please report this)")
    summary = {"out": out, "bytes": out.stat().st_size, "backend": prog.backend, "rows": int(expected.size(0)),
               "ops": len(prog.ops), "program": prog}
    if rows is not None:  # the engine's own test score, beside the record's (the fake-quantized model's)
        summary["engine_test"] = dataset.score(expected[rows], graph.y[rows])
        summary["record_test"] = record["metrics"].get("test")
    return summary


def _latency_model(config: dict, dataset):
    from dqbench.latency.harness import converted_for_trial, trial_data

    data = trial_data(dataset)
    return converted_for_trial(config, dataset, data), data, None


def _retrained(record: dict, dataset):
    """Train the trial again; its metrics (timings aside) must equal the record's. Returns the frozen model, the
    test graph and the rows of it that are the test split."""
    from dqbench.models import build_method, build_model
    from dqbench.run.train import fit, seed_everything

    config = record["config"]
    seed_everything(config["seed"])
    model = build_model(config, dataset)
    method = build_method(config)
    split = dataset.split(config["fold"])
    frozen = []
    metrics = fit(model, dataset, split, method, config["train"], config["seed"], on_converted=frozen.append)
    # what the record holds must be reproduced (timings aside); metrics added since it was written are not asked
    differ = sorted(k for k in record["metrics"] if not k.endswith("_s") and metrics.get(k) != record["metrics"][k])
    if differ:
        k = differ[0]
        raise DQBenchError(f"trained again, trial {record['trial_id']} gives {k} {metrics.get(k)} against the "
                           f"record's {record['metrics'].get(k)}: the record was made by other code (its commit "
                           "is in the run's pieces.jsonl); check that commit out to export it")
    if split.data is not None:
        return frozen[0], split.data, split.test
    from torch_geometric.data import Batch

    return frozen[0], Batch.from_data_list(list(split.test)), slice(None)
