"""Accuracy trials as Ray tasks (``--executor ray``): on a cluster joined with ``--address`` / ``RAY_ADDRESS``, or
on a local Ray instance started for the run.

Each trial is one task with ``cpus_per_trial`` CPUs (its torch threads). The driver submits every trial, writes
each record as its task finishes (it alone writes the run directory) and stamps it with the node that ran it and
the attempts it took. A task whose worker process or node dies is submitted again, up to ``retries`` times; its
record is written once, when an attempt finishes. A trial that raises is a failed record, as anywhere else. Each
worker resolves its data root itself, from ``cache`` / ``mirror`` when given, else from its own environment
(DQBENCH_CACHE, DQBENCH_DATA_MIRROR): a worker that lacks a dataset fails that trial with the usual message.
Latency suites are refused: their timings belong to one quiet machine.
"""

from __future__ import annotations

import os
import socket

from dqbench import process_settings
from dqbench.errors import DQBenchError
from dqbench.run.suite import SuiteSpec, TrialSpec

INSTALL_HINT = "pip install 'dqbench[ray]'"
DEFAULT_RETRIES = 2
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 ** 2  # records and trial specs are small; the default takes 30% of RAM


def import_ray():
    """The ray module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise DQBenchError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


class RayCluster:
    """Runs accuracy trials as Ray tasks; see the module docstring."""

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_trial: int = 1, retries: int = DEFAULT_RETRIES,
                 cache: str | None = None, mirror: str | None = None):
        if cpus_per_trial < 1:
            raise DQBenchError(f"--cpus-per-trial {cpus_per_trial}: give a number of CPUs, 1 or more")
        if retries < 0:
            raise DQBenchError(f"--retries {retries}: give a number of retries, 0 or more")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.cpus_per_trial, self.retries = cpus_per_trial, retries
        self.cache, self.mirror = cache, mirror
        self._started_here = False

    def check(self, suite: SuiteSpec) -> None:
        """Refuse what this executor cannot run, before anything starts: latency suites, a missing Ray."""
        if suite.kind != "accuracy":
            raise DQBenchError(f"suite {suite.name} measures latency: run it without --executor ray, on the "
                               "machine to be measured (timings taken side by side disturb each other)")
        import_ray()

    def start(self) -> dict:
        """Join the cluster (or start a local instance); what run.json and the pieces log say about it."""
        ray = import_ray()
        if not ray.is_initialized():
            try:
                if self.address:
                    ray.init(address=self.address, logging_level="error", log_to_driver=False)
                else:
                    from dqbench.run.runner import available_cpus

                    ray.init(num_cpus=available_cpus(), include_dashboard=False, logging_level="error",
                             log_to_driver=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
                raise DQBenchError(f"could not start or join {where} ({_one_line(exc)}); check --address / "
                                   "RAY_ADDRESS (`ray status` on the head node prints it)") from None
            self._started_here = True
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < self.cpus_per_trial:
            self.stop()
            raise DQBenchError(f"--cpus-per-trial {self.cpus_per_trial}: the Ray cluster has {cpus} CPUs; ask for "
                               "fewer or add nodes")
        return {"name": self.name, "address": self.address or "local", "nodes": len(nodes), "cpus": cpus,
                "cpus_per_trial": self.cpus_per_trial, "retries": self.retries, "ray": ray.__version__}

    def stop(self) -> None:
        if self._started_here:
            import_ray().shutdown()
            self._started_here = False

    def records(self, todo: list[TrialSpec], suite: SuiteSpec, bar):
        """Each record as its task finishes. Closing the generator (Ctrl-C) cancels the outstanding tasks; a trial
        cut short leaves no record and runs again on resume."""
        ray = import_ray()
        from ray.exceptions import RayTaskError, TaskCancelledError

        task = ray.remote(ray_trial).options(num_cpus=self.cpus_per_trial, max_retries=0)

        def submit(trial):
            return task.remote(trial, suite, self.cache, self.mirror, self.cpus_per_trial)

        pending = {submit(trial): (trial, 1, []) for trial in todo}
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                trial, attempt, lost = pending.pop(ref)
                try:
                    record = ray.get(ref)
                except RayTaskError as exc:  # raised outside the trial's own handling (e.g. unpickling on a worker)
                    record = _failed(trial, suite, f"the Ray task failed: {_one_line(exc)}")
                except (TaskCancelledError, KeyboardInterrupt):
                    raise
                except ray.exceptions.RayError as exc:  # the worker process or its node died
                    lost = [*lost, _one_line(exc)[:200]]
                    if attempt <= self.retries:
                        pending[submit(trial)] = (trial, attempt + 1, lost)
                        bar.write(f"trial {trial.trial_id}: attempt {attempt} lost ({lost[-1]}); retrying")
                        continue
                    record = _failed(trial, suite, f"its worker died on all {attempt} attempts (last: {lost[-1]}); "
                                                   "see the Ray logs of its node, or raise --retries")
                bar.set_description(f"{trial.trial_id.rsplit('-', 1)[0]} @ {record.get('node', {}).get('host', '?')}")
                yield {**record, "attempts": attempt, **({"lost_attempts": lost} if lost else {})}
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            self.stop()


def ray_trial(trial: TrialSpec, suite: SuiteSpec, cache: str | None, mirror: str | None, threads: int) -> dict:
    """One trial inside a Ray task: this process's settings and threads, its own data root, the node it ran on."""
    process_settings.apply()
    import torch

    from dqbench.datasets.paths import resolve_root
    from dqbench.run.environment import machine_id
    from dqbench.run.trial import run_trial

    torch.set_num_threads(threads)
    node = node_identity(machine_id(threads))
    try:
        root = resolve_root(cache=cache, mirror=mirror)
    except DQBenchError as exc:
        return {**_failed(trial, suite, f"on node {node['host']}: {exc}"), "node": node}
    return {**run_trial(trial, suite, _datasets(root)), "node": node}


def node_identity(machine: str) -> dict:
    """The node a task runs on: host name, IP, Ray node id and its machine id (CPU, flags, threads)."""
    import ray

    return {"host": socket.gethostname(), "ip": ray.util.get_node_ip_address(),
            "ray_node_id": ray.get_runtime_context().get_node_id(), "machine_id": machine}


_DATASETS: dict = {}  # data root -> DatasetCache, per worker process


def _datasets(root):
    from dqbench.run.trial import DatasetCache

    if root not in _DATASETS:
        _DATASETS[root] = DatasetCache(root)
    return _DATASETS[root]


def _failed(trial: TrialSpec, suite: SuiteSpec, error: str) -> dict:
    from dqbench.run.records import make_record
    from dqbench.run.trial import method_version

    return {**make_record(trial, "failed", error=error, suite=suite.name),
            "method_version": method_version(trial.method.name)}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
