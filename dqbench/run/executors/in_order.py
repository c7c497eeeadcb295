"""Trials one after another in this process (``--jobs 1``)."""

from __future__ import annotations

from dqbench.run.suite import SuiteSpec, TrialSpec
from dqbench.run.trial import DatasetCache, run_trial


class InOrder:
    name = "in-order"

    def __init__(self, datasets: DatasetCache):
        self.datasets = datasets

    def check(self, suite: SuiteSpec) -> None:
        pass

    def start(self) -> dict:
        return {"name": self.name}

    def stop(self) -> None:
        pass

    def records(self, todo: list[TrialSpec], suite: SuiteSpec, bar):
        for trial in todo:
            bar.set_description(trial.trial_id.rsplit("-", 1)[0])
            yield run_trial(trial, suite, self.datasets, bar)
