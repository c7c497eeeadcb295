"""Run a suite: expand trials, skip finished ones, run the rest, append one record per trial as it finishes."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from dqbench import process_settings
from dqbench.errors import DQBenchError
from dqbench.run.executors.in_order import InOrder
from dqbench.run.executors.local_pool import LocalPool
from dqbench.run.store import RECORDS, RunStore
from dqbench.run.suite import SuiteSpec, TrialSpec, check_filters, expand
from dqbench.run.trial import DatasetCache


@dataclass
class RunSummary:
    directory: Path
    total: int
    skipped: int
    ran: int
    failed: int
    interrupted: bool = False
    reused: int = 0


def run_suite(suite: SuiteSpec, out: str | Path, root, filters: dict | None = None, retry_failed: bool = False,
              progress: bool = True, log=print, quick: bool = False, command: str | None = None,
              reuse: list | None = None, jobs: int = 1, threads: int | None = None, executor=None) -> RunSummary:
    """Run (or resume) ``suite`` into ``out``. Ctrl-C stops after the finished trials are saved. ``command``
    (the invocation, for the report) is logged in the run directory when this call has trials to run.
    ``reuse``: other run directories whose finished trials with the same id (the same configuration) are copied
    instead of run again. ``executor`` (e.g. ``executors.ray_cluster.RayCluster``) runs the trials; without one,
    ``jobs`` > 1 runs accuracy trials in that many local worker processes, each with ``threads`` torch threads
    (default: the CPUs shared out), and latency suites refuse it (side-by-side timings disturb each other)."""
    from dqbench.run.environment import environment, git_revision

    process_settings.apply()
    filters = filters or {}
    check_filters(suite, filters)
    if jobs < 1:
        raise DQBenchError(f"--jobs {jobs}: give a number of worker processes, 1 or more")
    if threads is not None and threads < 1:
        raise DQBenchError(f"--threads {threads}: give a number of torch threads, 1 or more")
    datasets = DatasetCache(root)
    executor = executor or (LocalPool(root, jobs, threads, available_cpus()) if jobs > 1 else InOrder(datasets))
    executor.check(suite)
    check_reuse(reuse)
    store = RunStore(out)
    held = store.held(suite.name)
    trials = plan_trials(suite, datasets, filters, quick)
    todo = [t for t in trials if t.trial_id not in held or (retry_failed and held[t.trial_id]["status"] == "failed")]
    summary = RunSummary(Path(out), len(trials), len(trials) - len(todo), 0, 0)
    copies = reusable(todo, reuse or [], suite.name)
    todo = [t for t in todo if t.trial_id not in copies]
    summary.reused = len(copies)
    try:
        described = executor.start() if todo else {"name": executor.name}
        store.open(suite.name, lambda: {"suite": {"name": suite.name, "path": suite.path,
                                                  "description": suite.description},
                                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                        "environment": environment(), "executor": described})
        log(f"suite {suite.name}: {len(trials)} trials, {summary.skipped} already done, "
            + (f"{len(copies)} reused, " if reuse else "") + f"{len(todo)} to run -> {out}"
            + (f" ({_said(described)})" if todo and executor.name != InOrder.name else ""))
        _run_todo(store, todo, copies, suite, executor, summary, progress, command, described, git_revision)
    finally:
        executor.stop()
    return summary


def _run_todo(store: RunStore, todo, copies, suite, executor, summary, progress, command, described, git_revision):
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    piece_id = f"{started}-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this invocation; each record it writes carries it
    logged = bool((todo or copies) and command)
    if logged:
        piece = {"command": command, "git": git_revision(), "started": started, "to_run": len(todo),
                 "piece": piece_id, "process_settings": process_settings.current(), "executor": described}
        store.log_piece({**piece, "reused": len(copies)} if copies else piece)
    for record in copies.values():
        store.append(record)
    bar = _progress(len(todo), progress)
    outcome = "stopped by an error"
    results = executor.records(todo, suite, bar) if todo else iter(())
    try:
        for record in results:
            store.append({**record, "piece": piece_id})
            if record["status"] == "failed":
                bar.write(f"trial {record['trial_id']} failed: {record['error']}")
            bar.update(1)
        outcome = "finished"
    except KeyboardInterrupt:
        summary.interrupted = True
        outcome = "interrupted"
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # stops the workers or cancels the tasks still out
        bar.close()
        # counted from the file, not as they go: Ctrl-C can land between a record's write and any counter
        mine = [r for r in store.records() if r.get("piece") == piece_id and "reused_from" not in r]
        summary.ran, summary.failed = len(mine), sum(r["status"] == "failed" for r in mine)
        if logged:
            store.end_piece(piece_id, ran=summary.ran, failed=summary.failed, outcome=outcome)


def _said(described: dict) -> str:
    """'ray: 3 nodes, 48 CPUs, 1 per trial' / 'local-pool: 2 jobs x 1 threads' for the first log line."""
    if described.get("name") == "ray":
        return (f"ray at {described['address']}: {described['nodes']} nodes, {described['cpus']} CPUs, "
                f"{described['cpus_per_trial']} per trial")
    return f"{described['name']}: {described.get('jobs')} jobs x {described.get('threads')} threads"


MAX_DEFAULT_JOBS = 8  # more worker processes each hold a copy of the datasets


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_jobs(suite: SuiteSpec, threads: int | None = None) -> int:
    """``dqbench run``'s default worker count: accuracy trials one per CPU (``threads`` each, default 1), at most
    MAX_DEFAULT_JOBS; latency suites 1. On 2 cores, two one-thread workers ran the quickstart's 14 Cora seed-0
    trials in 61.6 s against 71.4 s for one two-thread process, with the same records (docs/results.md)."""
    if suite.kind != "accuracy":
        return 1
    return max(1, min(available_cpus() // (threads or 1), MAX_DEFAULT_JOBS))


def suite_progress(suite: SuiteSpec, out: str | Path, root, filters: dict | None = None,
                   quick: bool = False) -> tuple[list[TrialSpec], dict[str, dict], set[str]]:
    """The trials ``run_suite`` would consider under ``filters``, the records ``out`` already holds, by trial id,
    and the labels of the selected datasets that are cross-validated; creates nothing."""
    filters = filters or {}
    check_filters(suite, filters)
    done = RunStore(out).held(suite.name)
    num_folds = fold_counts(suite, DatasetCache(root), filters)
    folded = {label for label, n in num_folds.items() if n > 1}
    return expand(suite, num_folds, filters, quick=quick), done, folded


def plan_trials(suite: SuiteSpec, datasets: DatasetCache, filters: dict, quick: bool = False) -> list[TrialSpec]:
    """The suite's trials under ``filters``."""
    return expand(suite, fold_counts(suite, datasets, filters), filters, quick=quick)


def fold_counts(suite: SuiteSpec, datasets: DatasetCache, filters: dict) -> dict[str, int]:
    """Dataset label -> number of folds, for the selected datasets; accuracy suites load each once to count."""
    if suite.kind != "accuracy":
        return {}
    wanted = [d for d in suite.datasets if not filters.get("dataset") or d.label in filters["dataset"]]
    return {d.label: datasets.get(d, (d.seeds or suite.seeds)[0]).num_folds for d in wanted}


def check_reuse(directories: list | None) -> None:
    """Refuse a ``--reuse`` directory that holds no dqbench records."""
    for directory in directories or []:
        if not (Path(directory) / RECORDS).is_file():
            raise DQBenchError(f"--reuse {directory}: no {RECORDS} there; give a dqbench run directory")


def reusable(todo: list[TrialSpec], directories: list, suite_name: str) -> dict[str, dict]:
    """Finished (ok) records in ``directories`` for trials in ``todo``, by trial id, each marked ``reused_from``
    and filed under ``suite_name`` (one suite per run directory).

    A trial id hashes the whole configuration; the configurations are compared as well, so a copy is always the
    same trial. Failed records are never copied. The first directory that has a trial wins."""
    wanted = {t.trial_id: t for t in todo}
    copies: dict[str, dict] = {}
    for directory in directories:
        for record in RunStore(directory).records():
            trial = wanted.get(record.get("trial_id"))
            if (trial is not None and record["trial_id"] not in copies and record.get("status") == "ok"
                    and _same(record.get("config"), trial.config())):
                copies[record["trial_id"]] = {**record, "suite": suite_name, "reused_from": str(directory)}
    return copies


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


class _NoBar:
    def set_description(self, *_):
        pass

    def set_postfix_str(self, *_, **__):
        pass

    def update(self, *_):
        pass

    def write(self, msg):
        print(msg, file=sys.stderr)

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="trial", dynamic_ncols=True, file=sys.stderr)
