"""A run directory: run.json (suite + environment, written once), append-only trials.jsonl, and pieces.jsonl:
one line when a ``dqbench run`` invocation starts running trials there (its command and commit) and one when it
ends (how many trials it ran, and whether it finished or was interrupted)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from dqbench.errors import DQBenchError
from dqbench.run.records import read_records

RECORDS = "trials.jsonl"
RUN_INFO = "run.json"
PIECES = "pieces.jsonl"


class RunStore:
    """Append-only store of trial records; re-opening the same directory resumes."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.records_path = self.dir / RECORDS
        self.info_path = self.dir / RUN_INFO

    def open(self, suite_name: str, info_factory) -> dict[str, dict]:
        """Create or resume; returns the finished records by trial id. Repairs a torn last line."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DQBenchError(f"cannot create run directory {self.dir}: {exc.strerror}; choose another --out")
        if not self._holds(suite_name):
            _atomic_write(self.info_path, json.dumps(info_factory(), indent=2, sort_keys=True, default=str))
        records, torn = read_records(self.records_path)
        if torn is not None:
            self._set_aside_torn_tail(torn)
        return {r["trial_id"]: r for r in records}

    def held(self, suite_name: str) -> dict[str, dict]:
        """The records this directory already holds, by trial id ({} when it is not a run directory yet); creates
        and repairs nothing."""
        return {r["trial_id"]: r for r in self.records()} if self._holds(suite_name) else {}

    def _holds(self, suite_name: str) -> bool:
        """Whether this is already a run directory; refuses one of another suite."""
        if not self.info_path.exists():
            return False
        held = self.info().get("suite", {}).get("name")
        if held not in (None, suite_name):
            raise DQBenchError(f"{self.dir} holds a run of suite '{held}', not '{suite_name}'; use another --out")
        return True

    def _set_aside_torn_tail(self, torn: str) -> None:
        data = self.records_path.read_bytes()
        keep = data[: data.rfind(b"\n") + 1]
        with open(self.dir / f"{RECORDS}.torn-{int(time.time())}", "w") as f:
            f.write(torn)
        with open(self.records_path, "r+b") as f:
            f.truncate(len(keep))

    def info(self) -> dict:
        try:
            return json.loads(self.info_path.read_text())
        except (OSError, json.JSONDecodeError):
            raise DQBenchError(f"{self.info_path} is missing or corrupt; it is not a dqbench run directory")

    def append(self, record: dict) -> None:
        """Append one record as one line and flush it to disk before returning."""
        _append_line(self.records_path, record)

    def log_piece(self, piece: dict) -> None:
        """Note one invocation (command, commit, how many trials it set out to run)."""
        _append_line(self.dir / PIECES, piece)

    def end_piece(self, piece_id: str, **outcome) -> None:
        """Note how the invocation ``piece_id`` ended (``ran``, ``failed``, ``outcome``)."""
        _append_line(self.dir / PIECES, {"piece": piece_id, "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **outcome})

    def pieces(self) -> list[dict]:
        """The logged invocations, oldest first, each merged with its end line where one was written (none: still
        running, killed, or logged before end lines existed). Unreadable lines are skipped: this log is
        informative only."""
        path = self.dir / PIECES
        starts, ends = [], {}
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "command" in entry:
                starts.append(entry)
            elif "ended" in entry and "piece" in entry:
                ends[entry["piece"]] = entry
        return [{**ends.get(p.get("piece"), {}), **p} for p in starts]

    def records(self) -> list[dict]:
        return read_records(self.records_path)[0]


def _append_line(path: Path, obj: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(obj, sort_keys=True, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
