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
from dqbench.models import build_method, build_model
from dqbench.run.records import make_record
from dqbench.run.store import RECORDS, RunStore
from dqbench.run.suite import SuiteSpec, TrialSpec, check_filters, expand


@dataclass
class RunSummary:
    directory: Path
    total: int
    skipped: int
    ran: int
    failed: int
    interrupted: bool = False
    reused: int = 0


class DatasetCache:
    """Loads each (dataset entry, seed) once per process."""

    def __init__(self, root):
        self.root = root
        self._cache: dict = {}

    def get(self, entry, seed: int):
        from dqbench.registry import DATASETS

        key = (entry.label, seed)
        if key not in self._cache:
            self._cache[key] = DATASETS.get(entry.name)(root=self.root, seed=seed, **entry.kwargs)
        return self._cache[key]


def run_suite(suite: SuiteSpec, out: str | Path, root, filters: dict | None = None, retry_failed: bool = False,
              progress: bool = True, log=print, quick: bool = False, command: str | None = None,
              reuse: list | None = None, jobs: int = 1, threads: int | None = None) -> RunSummary:
    """Run (or resume) ``suite`` into ``out``. Ctrl-C stops after the finished trials are saved. ``command``
    (the invocation, for the report) is logged in the run directory when this call has trials to run.
    ``reuse``: other run directories whose finished trials with the same id (the same configuration) are copied
    instead of run again. ``jobs`` > 1 runs accuracy trials in that many worker processes, each with ``threads``
    torch threads (default: the CPUs shared out); latency suites refuse it (side-by-side timings disturb each
    other)."""
    from dqbench.run.environment import environment, git_revision

    process_settings.apply()
    filters = filters or {}
    check_filters(suite, filters)
    if jobs < 1:
        raise DQBenchError(f"--jobs {jobs}: give a number of worker processes, 1 or more")
    if threads is not None and threads < 1:
        raise DQBenchError(f"--threads {threads}: give a number of torch threads, 1 or more")
    if jobs > 1 and suite.kind != "accuracy":
        raise DQBenchError(f"suite {suite.name} measures latency: run it with --jobs 1, timings run side by side "
                           "disturb each other")
    check_reuse(reuse)
    store = RunStore(out)
    done = store.open(suite.name, lambda: {"suite": {"name": suite.name, "path": suite.path,
                                                        "description": suite.description},
                                           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                           "environment": environment()})
    datasets = DatasetCache(root)
    trials = plan_trials(suite, datasets, filters, quick)
    todo = [t for t in trials if t.trial_id not in done or (retry_failed and done[t.trial_id]["status"] == "failed")]
    summary = RunSummary(Path(out), len(trials), len(trials) - len(todo), 0, 0)
    copies = reusable(todo, reuse or [], suite.name)
    todo = [t for t in todo if t.trial_id not in copies]
    summary.reused = len(copies)
    log(f"suite {suite.name}: {len(trials)} trials, {summary.skipped} already done, "
        + (f"{len(copies)} reused, " if reuse else "") + f"{len(todo)} to run -> {out}")
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    piece_id = f"{started}-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this invocation; each record it writes carries it
    logged = bool((todo or copies) and command)
    if logged:
        piece = {"command": command, "git": git_revision(), "started": started, "to_run": len(todo),
                 "piece": piece_id, "process_settings": process_settings.current()}
        store.log_piece({**piece, "reused": len(copies)} if copies else piece)
    for record in copies.values():
        store.append(record)
    bar = _progress(len(todo), progress)
    outcome = "stopped by an error"
    if jobs > 1 and len(todo) > 1:
        results = _pooled(todo, suite, root, jobs, threads, bar)
    else:
        results = _in_order(todo, suite, datasets, bar)
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
        bar.close()
        # counted from the file, not as they go: Ctrl-C can land between a record's write and any counter
        mine = [r for r in store.records() if r.get("piece") == piece_id and "reused_from" not in r]
        summary.ran, summary.failed = len(mine), sum(r["status"] == "failed" for r in mine)
        if logged:
            store.end_piece(piece_id, ran=summary.ran, failed=summary.failed, outcome=outcome)
    return summary


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


def _in_order(todo: list[TrialSpec], suite: SuiteSpec, datasets: DatasetCache, bar):
    for trial in todo:
        bar.set_description(trial.trial_id.rsplit("-", 1)[0])
        yield _run_trial(trial, suite, datasets, bar)


def _pooled(todo: list[TrialSpec], suite: SuiteSpec, root, jobs: int, threads: int | None, bar):
    """Run ``todo`` in ``jobs`` worker processes and yield each record as it finishes (in finishing order); this
    process alone writes the records. Ctrl-C (or closing the generator) terminates the workers: a trial cut short
    leaves no record and runs again on resume."""
    import multiprocessing

    threads = threads or max(1, available_cpus() // jobs)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
    with context.Pool(min(jobs, len(todo)), initializer=_worker_start, initargs=(threads,)) as pool:
        for record in pool.imap_unordered(_worker_trial, [(trial, suite, root) for trial in todo]):
            bar.set_description(record["trial_id"].rsplit("-", 1)[0])
            yield record


_WORKER_DATASETS: DatasetCache | None = None


def _worker_start(threads: int) -> None:
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    torch.set_num_threads(threads)


def _worker_trial(job) -> dict:
    global _WORKER_DATASETS
    trial, suite, root = job
    if _WORKER_DATASETS is None:
        _WORKER_DATASETS = DatasetCache(root)
    return _run_trial(trial, suite, _WORKER_DATASETS, _NoBar())


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


def method_version(name: str) -> str | None:
    """The registered method's declared ``version`` (None where a plugin declares none)."""
    from dqbench.registry import METHODS

    version = getattr(METHODS.get(name), "version", None)
    return None if version is None else str(version)


def _run_trial(trial: TrialSpec, suite: SuiteSpec, datasets: DatasetCache, bar) -> dict:
    """The trial's record, stamped with its method's version."""
    return {**_trial_record(trial, suite, datasets, bar), "method_version": method_version(trial.method.name)}


def _trial_record(trial: TrialSpec, suite: SuiteSpec, datasets: DatasetCache, bar) -> dict:
    try:
        dataset = datasets.get(trial.dataset, trial.seed)
        if trial.kind == "latency":
            return _latency_trial(trial, suite, dataset)
        metrics = accuracy_trial(trial, dataset, bar)
        return make_record(trial, "ok", metrics=metrics, suite=suite.name)
    except KeyboardInterrupt:
        raise
    except DQBenchError as exc:
        return make_record(trial, "failed", error=str(exc), suite=suite.name)
    except Exception as exc:  # a trial that raises becomes a failed record; the run goes on
        return make_record(trial, "failed", error=f"{type(exc).__name__}: {exc}", suite=suite.name)


def accuracy_trial(trial: TrialSpec, dataset, bar=None, **hooks) -> dict:
    """Seed, build and ``fit`` one trial; ``hooks`` (``on_step``, ``on_prepared``) go to ``fit`` (``dqbench trace``)."""
    from dqbench.run.train import fit, seed_everything

    seed_everything(trial.seed)
    model = build_model(trial.config(), dataset)
    method = build_method(trial.config())
    split = dataset.split(trial.fold)
    epochs = trial.train["epochs"]

    def on_epoch(epoch, info):
        bar.set_postfix_str(f"epoch {epoch + 1}/{epochs} loss {info['loss']:.3f} val {info['val']:.3f}", refresh=False)

    return fit(model, dataset, split, method, trial.train, trial.seed, on_epoch=on_epoch if bar else None, **hooks)


def _latency_trial(trial: TrialSpec, suite: SuiteSpec, dataset) -> dict:
    try:
        from dqbench.latency.harness import run_latency_trial
    except ImportError as exc:
        return make_record(trial, "skipped", error=f"integer engine unavailable: {exc}", suite=suite.name)
    from dqbench.engine import LoweringError

    try:
        result = run_latency_trial({**trial.config(), **suite.latency, "threads": trial.threads}, dataset)
    except LoweringError as exc:
        return make_record(trial, "skipped", error=str(exc), suite=suite.name)
    return make_record(trial, "ok", metrics=result["metrics"], samples=result.get("samples"), suite=suite.name)


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
