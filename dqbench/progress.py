"""What a run directory holds of a suite, cell by cell: `dqbench run SUITE --out DIR --plan` prints it without
running anything, so a long suite run over several sittings shows what is done and what is left."""

from __future__ import annotations

from collections import defaultdict


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


def progress_rows(trials, done: dict[str, dict]) -> list[list]:
    """One row per dataset × arch × method × bits: trials done (ok), failed, to run, which seeds/folds are left, and
    the training time they would take one after another (seconds) at the pace of the cell's finished trials (the
    dataset's where the cell has none; None where neither has any).

    ``done``: the run directory's records by trial id. A failed record counts as failed, not done (``--retry-failed``
    runs it again)."""
    cells: dict[tuple, dict] = defaultdict(lambda: {"ok": 0, "failed": 0, "left": [], "seconds": []})
    per_dataset: dict[str, list] = defaultdict(list)
    for t in trials:
        cell = cells[(t.dataset.label, t.arch.label, t.method.label, t.bits)]
        record = done.get(t.trial_id, {})
        if record.get("status") == "ok":
            cell["ok"] += 1
            seconds = record.get("metrics", {}).get("train_time_s")
            if seconds is not None:
                cell["seconds"].append(seconds)
                per_dataset[t.dataset.label].append(seconds)
        else:
            cell["failed"] += record.get("status") == "failed"
            cell["left"].append((t.seed, t.fold))
    folded = {t.dataset.label for t in trials if t.fold > 0}  # cross-validated datasets
    rows = []
    for (dataset, arch, method, bits), cell in cells.items():
        pace = cell["seconds"] or per_dataset[dataset]
        left = len(cell["left"])
        estimate = (sum(pace) / len(pace) * left if pace else None) if left else 0.0
        rows.append([dataset, arch, method, bits, cell["ok"], cell["failed"], left,
                     _left(cell["left"], dataset in folded), estimate])
    return rows


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
