"""Trial records: one JSON object per finished trial (versioned schema), read back tolerant of a torn last line."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from dqbench.errors import DQBenchError

SCHEMA = 1
STATUSES = ("ok", "failed", "skipped")


def make_record(trial, status: str, metrics: dict | None = None, error: str | None = None,
                samples: dict | None = None, suite: str = "") -> dict:
    """A record for a TrialSpec; ``error`` is kept to one line."""
    assert status in STATUSES
    rec = {"schema": SCHEMA, "trial_id": trial.trial_id, "suite": suite, "kind": trial.kind, "status": status,
           "config": trial.config(), "metrics": metrics or {}}
    if error is not None:
        rec["error"] = " ".join(str(error).split())[:500]
    if samples is not None:
        rec["samples"] = samples
    return rec


def read_records(path: str | Path) -> tuple[list[dict], str | None]:
    """All complete records, last one per trial id wins. Returns (records, torn_tail).

    A last line without its newline is a record torn by a crash: it is returned separately (never parsed as a
    finished trial). A complete line that is not a valid record is corruption: one-line DQBenchError.
    """
    p = Path(path)
    if not p.exists():
        return [], None
    data = p.read_bytes()
    torn = None
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        torn, data = data[cut:].decode(errors="replace"), data[:cut]
    by_id: dict[str, dict] = {}
    for lineno, line in enumerate(data.decode(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            ok = isinstance(rec, dict) and "trial_id" in rec and rec.get("status") in STATUSES
        except json.JSONDecodeError:
            ok = False
        if not ok:
            raise DQBenchError(
                f"{p} line {lineno} is not a valid trial record; delete or fix that line (other lines are intact)"
            )
        if rec.get("schema", SCHEMA) > SCHEMA:
            raise DQBenchError(f"{p} was written by a newer dqbench (schema {rec['schema']}); upgrade dqbench")
        by_id.pop(rec["trial_id"], None)
        by_id[rec["trial_id"]] = rec
    if torn:
        warnings.warn(f"{p}: ignoring an unfinished last line left by an interrupted run", stacklevel=2)
    return list(by_id.values()), torn
