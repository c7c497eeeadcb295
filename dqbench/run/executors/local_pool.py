"""Accuracy trials in local worker processes (``--jobs N``), each with its own torch threads."""

from __future__ import annotations

from dqbench.errors import DQBenchError
from dqbench.run.executors.in_order import InOrder
from dqbench.run.suite import SuiteSpec, TrialSpec
from dqbench.run.trial import DatasetCache, run_trial


class LocalPool:
    """``jobs`` spawned worker processes with ``threads`` torch threads each (default: the CPUs shared out)."""

    name = "local-pool"

    def __init__(self, root, jobs: int, threads: int | None, cpus: int):
        self.root, self.jobs = root, jobs
        self.threads = threads or max(1, cpus // jobs)

    def check(self, suite: SuiteSpec) -> None:
        if suite.kind != "accuracy":
            raise DQBenchError(f"suite {suite.name} measures latency: run it with --jobs 1, timings run side by "
                               "side disturb each other")

    def start(self) -> dict:
        return {"name": self.name, "jobs": self.jobs, "threads": self.threads}

    def stop(self) -> None:
        pass

    def records(self, todo: list[TrialSpec], suite: SuiteSpec, bar):
        """Each record as it finishes (in finishing order). Ctrl-C (or closing the generator) terminates the
        workers: a trial cut short leaves no record and runs again on resume."""
        import multiprocessing

        if len(todo) == 1:  # no worker to start for one trial: the same record in this process
            yield from InOrder(DatasetCache(self.root)).records(todo, suite, bar)
            return
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
        with context.Pool(min(self.jobs, len(todo)), initializer=_worker_start, initargs=(self.threads,)) as pool:
            for record in pool.imap_unordered(_worker_trial, [(trial, suite, self.root) for trial in todo]):
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
    return run_trial(trial, suite, _WORKER_DATASETS)
