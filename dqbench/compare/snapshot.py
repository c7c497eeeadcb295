"""Runs and baselines on disk: ``baselines/<suite>/<machine_id>/{run.json,trials.jsonl}``.

A baseline is a frozen copy of one run's raw records for one machine identity. Accuracy records of any machine
can serve as a baseline; latency is only ever compared within the same machine id.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from dqbench.errors import DQBenchError
from dqbench.run.records import read_records
from dqbench.run.store import RECORDS, RUN_INFO


@dataclass
class Snapshot:
    """The run.json and records of a run directory (or of one machine's baseline)."""

    path: Path
    info: dict
    records: list[dict] = field(default_factory=list)

    @property
    def suite(self) -> str | None:
        return (self.info.get("suite") or {}).get("name")

    @property
    def environment(self) -> dict:
        return self.info.get("environment") or {}

    @property
    def machine_id(self) -> str | None:
        return self.environment.get("machine_id")

    def package(self, name: str) -> str | None:
        return (self.environment.get("packages") or {}).get(name)


def load_snapshot(directory: str | Path, what: str) -> Snapshot:
    """Read run.json + trials.jsonl; ``what`` ("run" / "baseline") only shapes the error messages."""
    d = Path(directory)
    if not d.is_dir():
        raise DQBenchError(f"{what} directory {d} not found; give the --out of a 'dqbench run'")
    if not (d / RUN_INFO).exists():
        raise DQBenchError(f"{d} has no {RUN_INFO}: it is not a dqbench {what} directory")
    try:
        info = json.loads((d / RUN_INFO).read_text())
    except (OSError, json.JSONDecodeError):
        raise DQBenchError(f"{d / RUN_INFO} is corrupt; restore it or make the {what} again")
    if not isinstance(info, dict):
        raise DQBenchError(f"{d / RUN_INFO} is not a JSON object; restore it or make the {what} again")
    records, _ = read_records(d / RECORDS)
    if not records:
        raise DQBenchError(f"{what} {d} has no trial records ({RECORDS} missing or empty); run the suite first")
    snap = Snapshot(d, info, records)
    _check_one_suite(snap, what)
    return snap


def _check_one_suite(snap: Snapshot, what: str) -> None:
    names = {r.get("suite") for r in snap.records if r.get("suite")}
    if snap.suite:
        names.add(snap.suite)
    if len(names) > 1:
        raise DQBenchError(f"{what} {snap.path} mixes records of suites {', '.join(sorted(names))}; "
                           f"keep one suite per directory")


def suite_of(snap: Snapshot) -> str | None:
    """The suite name from run.json, else from the records."""
    return snap.suite or next((r.get("suite") for r in snap.records if r.get("suite")), None)


def machine_dirs(baseline_dir: Path) -> list[Path]:
    """Per-machine snapshot directories under a baseline directory (or the directory itself if it is one)."""
    if (baseline_dir / RECORDS).exists():
        return [baseline_dir]
    return sorted(p for p in baseline_dir.iterdir() if p.is_dir() and (p / RECORDS).exists())


def select_baseline(baseline_dir: str | Path, run: Snapshot) -> tuple[Snapshot, bool]:
    """The baseline snapshot for ``run``: same machine id if stored, else the newest other machine's.

    Returns (snapshot, same_machine).
    """
    d = Path(baseline_dir)
    if not d.is_dir():
        raise DQBenchError(f"baseline directory {d} not found; create it with "
                           f"'dqbench baseline update RUN --baseline {d}'")
    dirs = machine_dirs(d)
    if not dirs:
        raise DQBenchError(f"baseline directory {d} holds no baseline records; create them with "
                           f"'dqbench baseline update RUN --baseline {d}'")
    snaps = [load_snapshot(p, "baseline") for p in dirs]
    run_suite = suite_of(run)
    for s in snaps:
        if run_suite and suite_of(s) and suite_of(s) != run_suite:
            raise DQBenchError(f"baseline {s.path} holds records of suite '{suite_of(s)}', but the run is of suite "
                               f"'{run_suite}'; pass --baseline baselines/{run_suite}")
    same = [s for s in snaps if s.machine_id and s.machine_id == run.machine_id]
    if same:
        return same[0], True
    newest = max(snaps, key=lambda s: (str(s.info.get("created", "")), str(s.path)))
    return newest, False


def write_baseline(run: Snapshot, baseline_dir: str | Path) -> Path:
    """Store ``run``'s records as the baseline of its machine id (replacing that machine's previous one)."""
    mid = run.machine_id
    if not mid:
        raise DQBenchError(f"{run.path / RUN_INFO} has no environment.machine_id; re-run the suite with this dqbench")
    d = Path(baseline_dir)
    if d.exists() and not d.is_dir():
        raise DQBenchError(f"baseline path {d} is a file; give a directory")
    suite = suite_of(run)
    if d.is_dir():
        for p in machine_dirs(d):
            other = load_snapshot(p, "baseline")
            if suite and suite_of(other) and suite_of(other) != suite:
                raise DQBenchError(f"baseline directory {d} holds suite '{suite_of(other)}', not '{suite}'; "
                                   f"use --baseline baselines/{suite}")
    target = d / mid
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DQBenchError(f"cannot create baseline directory {target}: {exc.strerror}")
    info = dict(run.info)
    info["baseline"] = {"source": str(run.path), "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    records = sorted(run.records, key=lambda r: r["trial_id"])
    _atomic_write(target / RECORDS, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records))
    _atomic_write(target / RUN_INFO, json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    return target


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
