"""What a run directory holds of a suite, cell by cell: `dqbench run SUITE --out DIR --plan` prints it without
running anything, so a long suite run over several sittings shows what is done and what is left."""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple


def spans(values) -> str:
    """Compress integers into ranges: [0, 1, 2, 5, 7, 8] -> '0–2, 5, 7–8'."""
    out, run = [], []
    for v in sorted(set(values)):
        if run and v != run[-1] + 1:
            out.append(_span(run))
            run = []
        run.append(v)
    if run:
        out.append(_span(run))
    return ", ".join(out)


def _span(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}"


class Row(NamedTuple):
    """One dataset × arch × method × bits cell of a plan."""
    dataset: str
    arch: str
    method: str
    bits: int
    done: int
    failed: int
    to_run: int
    left: str  # which seeds/folds are left, e.g. 'folds 5–9'
    seconds_left: float | None  # training time left one trial at a time; None where no pace is measured


def progress_rows(trials, done: dict[str, dict], folded: set[str] | None = None,
                  copied: set[str] | frozenset = frozenset()) -> list[Row]:
    """One row per dataset × arch × method × bits of ``trials``: trials done (ok), failed, to run, which seeds/folds
    are left, and the training time they would take one after another (seconds).

    ``done``: the run directory's records by trial id. A failed record counts as failed, not done (``--retry-failed``
    runs it again). ``folded``: the cross-validated dataset labels, whose left trials are named by fold (default:
    those with a selected trial past fold 0). The pace is that of the cell's finished records in the directory,
    selected or not (so ``--seed 3`` is estimated from seeds 0–2), else the dataset's; None where neither has any.
    ``copied``: ids of trials left that ``--reuse`` would copy rather than train; they count as to run but take no
    training time."""
    cell_pace: dict[tuple, list] = defaultdict(list)
    dataset_pace: dict[str, list] = defaultdict(list)
    for record in done.values():
        seconds = record.get("metrics", {}).get("train_time_s")
        config = record.get("config") or {}
        if record.get("status") == "ok" and seconds is not None and "dataset" in config:
            cell_pace[cell_key(config)].append(seconds)
            dataset_pace[config["dataset"]].append(seconds)
    cells: dict[tuple, dict] = defaultdict(lambda: {"ok": 0, "failed": 0, "left": [], "copied": 0})
    for t in trials:
        cell = cells[cell_key(t.config())]
        status = done.get(t.trial_id, {}).get("status")
        if status == "ok":
            cell["ok"] += 1
        else:
            cell["failed"] += status == "failed"
            cell["left"].append((t.seed, t.fold))
            cell["copied"] += t.trial_id in copied
    if folded is None:
        folded = {t.dataset.label for t in trials if t.fold > 0}
    rows = []
    for key, cell in cells.items():
        pace = cell_pace[key] or dataset_pace[key[0]]
        left = len(cell["left"])
        trained = left - cell["copied"]
        estimate = (sum(pace) / len(pace) * trained if pace else None) if trained else 0.0
        rows.append(Row(*key, cell["ok"], cell["failed"], left, _left(cell["left"], key[0] in folded), estimate))
    return rows


def cell_key(config: dict) -> tuple:
    """(dataset, arch, method, bits) of a trial configuration: the cell of a plan row."""
    return config["dataset"], config["arch"], config["method"], config["bits"]


def duration(seconds: float | None) -> str:
    """'?' (no pace measured yet), '' (nothing left), '40 min', '3.5 h'."""
    if seconds is None:
        return "?"
    if seconds == 0:
        return ""
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _left(left: list[tuple[int, int]], folded: bool) -> str:
    """'folds 5–9' / 'seeds 2–9' / 'seed 1 folds 0–2; seed 2 folds 0–9' for the seeds/folds still to run."""
    if not left:
        return ""
    seeds = sorted({s for s, _ in left})
    if not folded:
        return f"seed{'s' if len(seeds) > 1 else ''} {spans(seeds)}"
    per_seed = [(s, _folds([f for t, f in left if t == s])) for s in seeds]
    if len(per_seed) == 1:
        return per_seed[0][1]
    return "; ".join(f"seed {s} {folds}" for s, folds in per_seed)


def _folds(folds: list[int]) -> str:
    return f"fold{'s' if len(folds) > 1 else ''} {spans(folds)}"


HEADERS = ["dataset", "arch", "method", "bits", "done", "failed", "to run", "left (seed/fold)", "time left"]
