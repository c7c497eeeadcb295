"""One trial, wherever it runs (in order, a worker process, a Ray task): its dataset cache and its record."""

from __future__ import annotations

from dqbench.errors import DQBenchError
from dqbench.models import build_method, build_model
from dqbench.run.records import make_record
from dqbench.run.suite import SuiteSpec, TrialSpec


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


def method_version(name: str) -> str | None:
    """The registered method's declared ``version`` (None where a plugin declares none)."""
    from dqbench.registry import METHODS

    version = getattr(METHODS.get(name), "version", None)
    return None if version is None else str(version)


def run_trial(trial: TrialSpec, suite: SuiteSpec, datasets: DatasetCache, bar=None) -> dict:
    """The trial's record, stamped with its method's version; an exception becomes a failed record (Ctrl-C
    excepted). ``bar``: a progress bar to show the epochs on."""
    return {**_record(trial, suite, datasets, bar), "method_version": method_version(trial.method.name)}


def _record(trial: TrialSpec, suite: SuiteSpec, datasets: DatasetCache, bar) -> dict:
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
