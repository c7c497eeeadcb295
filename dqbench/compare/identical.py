"""Do two run directories hold the same records? For each trial id in both, every metric both records hold but the
timings (names ending in ``_s``) is compared exactly: the check that a re-run reproduced committed records. A metric
only one of the two holds (records written before a metric was added lack it) is listed, not counted as a
difference; a trial whose records share no metric at all does count."""

from __future__ import annotations

from pathlib import Path

from dqbench.errors import DQBenchError
from dqbench.run.records import read_records
from dqbench.run.store import RECORDS


def untimed_metrics(run: str | Path) -> dict[str, dict]:
    """Trial id -> its metrics without the timings, for every record in ``run``."""
    path = Path(run) / RECORDS
    if not path.is_file():
        raise DQBenchError(f"{run}: no {RECORDS} there; give a dqbench run directory")
    records, _ = read_records(path)
    return {r["trial_id"]: {k: v for k, v in r.get("metrics", {}).items() if not k.endswith("_s")} for r in records}


def identical_report(a: str | Path, b: str | Path) -> tuple[list[str], int]:
    """The report's lines and how many trials in both differ."""
    ra, rb = untimed_metrics(a), untimed_metrics(b)
    both = sorted(set(ra) & set(rb))
    shared = {t: sorted(set(ra[t]) & set(rb[t])) for t in both}
    differ = [t for t in both if not shared[t] or any(ra[t][k] != rb[t][k] for k in shared[t])]
    lines = [f"{a}: {len(ra)} trials; {b}: {len(rb)} trials; {len(both)} in both",
             f"identical (all metrics but timings): {len(both) - len(differ)} of {len(both)}"]
    only = sorted({k for t in both for k in set(ra[t]) ^ set(rb[t])})
    if only:
        lines.append(f"  metrics only one run's records hold (not compared): {', '.join(only)}")
    for t in differ:
        keys = [k for k in shared[t] if ra[t][k] != rb[t][k]] or ["(no metric in common)"]
        lines.append(f"  differs: {t}: " + ", ".join(f"{k} {ra[t].get(k)} / {rb[t].get(k)}" for k in keys))
    return lines, len(differ)
