"""Suites: TOML files -> validated SuiteSpec -> TrialSpecs (matrix x seeds x folds - exclude) with stable ids.

Everything (names, keys, types, bit widths, option values, finite numbers, [[exclude]] names, seeds) is checked as
the suite loads, so ``validate`` and ``run`` refuse it before the first trial; ``folds`` against a dataset's fold
count needs the data, so ``run`` checks that (``check_folds``) before its first trial. Errors are one line.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from dqbench.bits import FP32_BITS
from dqbench.errors import DQBenchError

TOP_KEYS = {"name", "description", "kind", "seeds", "folds", "train", "datasets", "archs", "methods", "exclude",
            "latency", "compare"}
ENTRY_KEYS = {"name", "label", "train", "seeds"}  # every other key of an entry is a keyword argument
TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 200, "lr": 0.01, "weight_decay": 5e-4, "patience": 0, "batch_size": 128, "select": "val_score",
    "lr_decay_step": 0, "lr_decay_factor": 0.5,
}
TRAIN_TYPES = {"epochs": int, "lr": float, "weight_decay": float, "patience": int, "batch_size": int, "select": str,
               "lr_decay_step": int, "lr_decay_factor": float}
SELECT_CHOICES = ("val_score", "val_loss", "last")
LATENCY_DEFAULTS: dict[str, Any] = {"threads": [1], "rounds": 20, "warmup": 3, "controls": ["pyg", "fp32", "int32"],
                                    "batch_size": 128, "max_seconds": 0.0, "onnx_max_edges": 1_000_000}
LATENCY_TYPES = {"threads": list, "rounds": int, "warmup": int, "controls": list, "batch_size": int,
                 "max_seconds": float, "onnx_max_edges": int}
# the smallest value each numeric setting takes, and whether that value itself is allowed
LOWER_BOUNDS = {"epochs": (1, True), "batch_size": (1, True), "patience": (0, True), "lr_decay_step": (0, True),
                "lr": (0.0, False), "weight_decay": (0.0, True), "lr_decay_factor": (0.0, False),
                "rounds": (1, True), "warmup": (0, True), "max_seconds": (0.0, True),
                "onnx_max_edges": (0, True)}
COMPARE_DEFAULTS: dict[str, Any] = {"accuracy_tolerance": 0.01, "latency_tolerance": 0.10, "alpha": 0.05}
COMPARE_TYPES = {"accuracy_tolerance": float, "latency_tolerance": float, "alpha": float}
QUICK_EPOCHS = 2
MAX_SEED = 2**63 - 1  # torch's seeds are 64-bit
EXCLUDE_KEYS = ("dataset", "arch", "method", "bits")


@dataclass(frozen=True)
class Entry:
    """One dataset/arch/method entry of a suite: a registered name plus keyword arguments."""

    name: str
    label: str
    kwargs: dict
    train: dict = field(default_factory=dict)
    bits: tuple[int, ...] = ()
    seeds: tuple[int, ...] = ()


@dataclass(frozen=True)
class TrialSpec:
    trial_id: str
    kind: str
    dataset: Entry
    arch: Entry
    method: Entry
    bits: int
    seed: int
    fold: int
    train: dict
    threads: int | None = None

    def config(self) -> dict:
        """The JSON-able description stored in the record (and hashed into the id)."""
        cfg = {
            "dataset": self.dataset.label, "dataset_name": self.dataset.name, "dataset_kwargs": self.dataset.kwargs,
            "arch": self.arch.label, "arch_name": self.arch.name, "arch_kwargs": self.arch.kwargs,
            "method": self.method.label, "method_name": self.method.name, "method_kwargs": self.method.kwargs,
            "bits": self.bits, "seed": self.seed, "fold": self.fold, "train": self.train,
        }
        if self.threads is not None:
            cfg["threads"] = self.threads
        return cfg


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    path: str
    kind: str
    description: str
    seeds: tuple[int, ...]
    folds: Any
    train: dict
    datasets: tuple[Entry, ...]
    archs: tuple[Entry, ...]
    methods: tuple[Entry, ...]
    exclude: tuple[dict, ...]
    latency: dict
    compare: dict


def _fail(path: str, msg: str) -> None:
    raise DQBenchError(f"{path}: {msg}")


def _check_type(path: str, where: str, key: str, value: Any, typ: type) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        _fail(path, f"{where}.{key} must be {typ.__name__}, got {type(value).__name__} {value!r}")
    return value


def _settings(path: str, where: str, given: Any, defaults: dict, types: dict) -> dict:
    if given is None:
        return dict(defaults)
    if not isinstance(given, dict):
        _fail(path, f"[{where}] must be a table")
    out = dict(defaults)
    for key, value in given.items():
        if key not in types:
            _unknown_key(path, f"[{where}]", key, types)
        out[key] = _check_type(path, where, key, value, types[key])
        _check_bound(path, where, key, out[key])
    return out


def _check_bound(path: str, where: str, key: str, value: Any) -> None:
    if key == "select" and value not in SELECT_CHOICES:
        _fail(path, f"{where}.select must be one of {', '.join(SELECT_CHOICES)}, got {value!r}")
    if key not in LOWER_BOUNDS:
        return
    low, inclusive = LOWER_BOUNDS[key]
    if value < low or (value == low and not inclusive):
        _fail(path, f"{where}.{key} = {value!r} is out of range; give a value {'>=' if inclusive else '>'} {low}")


def _check_latency(path: str, latency: dict) -> None:
    """Thread counts are whole numbers >= 1; controls are the engine's."""
    from dqbench.latency.harness import ALL_CONTROLS

    threads = latency["threads"]
    if not threads or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1 for t in threads):
        _fail(path, f"latency.threads must be a non-empty list of whole numbers >= 1, got {threads!r}")
    for control in latency["controls"]:
        if control not in ALL_CONTROLS:
            _fail(path, f"latency.controls: unknown control {control!r}; use some of: {', '.join(ALL_CONTROLS)}")


def _unknown_key(path: str, where: str, key: str, valid) -> None:
    import difflib

    close = difflib.get_close_matches(key, sorted(valid), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    _fail(path, f"unknown key '{key}' in {where}; {hint}valid: {', '.join(sorted(valid))}")


def _check_options(path: str, section: str, label: str, factory: Callable, kwargs: dict) -> None:
    """Run the factory's ``option_checks`` on an entry's options."""
    params = inspect.signature(factory).parameters.values()
    values = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty} | kwargs
    for check in getattr(factory, "suite_checks", ()):
        wanted = inspect.signature(check).parameters
        try:
            check(**{k: v for k, v in values.items() if k in wanted})
        except DQBenchError as exc:
            _fail(path, f"[[{section}]] '{label}': {exc}")


def _check_finite(path: str, value: Any, where: str = "") -> None:
    """NaN and infinity (TOML has ``nan`` and ``inf``) are no setting's value: refuse them in any table."""
    if isinstance(value, float) and not math.isfinite(value):
        _fail(path, f"{where} = {value!r} is not a finite number; give a finite value")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(path, item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            named = item.get("label", item.get("name")) if isinstance(item, dict) else None
            _check_finite(path, item, f"{where}.{named}" if isinstance(named, str) else f"{where}[{i}]")


def _entries(path: str, raw: dict, section: str, registry, reserved: tuple[str, ...]) -> tuple[Entry, ...]:
    items = raw.get(section)
    if not items:
        _fail(path, f"needs at least one [[{section}]] entry with a 'name'")
    if not isinstance(items, list):
        _fail(path, f"'{section}' must be an array of tables ([[{section}]])")
    out, labels = [], set()
    for i, item in enumerate(_swept(path, section, items)):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item:
            _fail(path, f"[[{section}]] entry {i + 1} needs a 'name'")
        name = item["name"]
        if not isinstance(name, str):
            _fail(path, f"[[{section}]] entry {i + 1}: 'name' must be a string, got {name!r}")
        if name not in registry:
            _fail(path, f"[[{section}]] entry {i + 1}: {registry.unknown_message(name)}")
        kwargs = {k: v for k, v in item.items() if k not in ENTRY_KEYS and k != "bits"}
        bits: tuple[int, ...] = ()
        if section == "methods":
            bits = _method_bits(path, name, item.get("bits"))
        elif "bits" in item:
            _fail(path, f"[[{section}]] '{name}': 'bits' belongs to [[methods]] entries")
        try:
            registry.check_kwargs(name, kwargs, reserved=reserved)
        except DQBenchError as exc:
            _fail(path, f"[[{section}]] '{name}': {exc}")
        label = item.get("label", name)
        if not isinstance(label, str) or not label:
            _fail(path, f"[[{section}]] '{name}': 'label' must be a non-empty string, got {label!r}")
        _check_options(path, section, label, registry.get(name), kwargs)
        train = _settings(path, f"{section}.{name}.train", item.get("train"), {}, TRAIN_TYPES)
        # methods: one entry per (label, bit width), so a method may take other settings at another bit width
        claims = {(label, b) for b in bits} if section == "methods" else {(label, None)}
        if claims & labels:
            clash = "" if section != "methods" else " at the same bit width"
            _fail(path, f"two [[{section}]] entries are called '{label}'{clash}; give one a distinct 'label'")
        labels |= claims
        seeds = ()
        if "seeds" in item:
            if section != "datasets":
                _fail(path, f"[[{section}]] '{name}': 'seeds' can be set per dataset only")
            seeds = _seeds(path, item["seeds"], f"datasets.{label}.seeds")
        out.append(Entry(name=name, label=label, kwargs=kwargs, train=train, bits=bits, seeds=seeds))
    return tuple(out)


def _swept(path: str, section: str, items: list) -> list:
    """Entries with a ``sweep`` table ({option: [values]}) become one entry per combination of the values, each
    labelled ``<label>_<option><value>...`` (a table value: its keys and values, ':' written '.')."""
    import itertools

    out = []
    for item in items:
        if not isinstance(item, dict) or "sweep" not in item:
            out.append(item)
            continue
        sweep, base = item["sweep"], {k: v for k, v in item.items() if k != "sweep"}
        where = f"[[{section}]] '{item.get('label', item.get('name'))}': sweep"
        if not isinstance(sweep, dict) or not sweep or not all(isinstance(v, list) and v for v in sweep.values()):
            _fail(path, f"{where} must be a table of option = [values, ...], each list non-empty")
        for key in sweep:
            if key in ENTRY_KEYS or key == "bits" or key in base:
                _fail(path, f"{where}: '{key}' cannot be swept here (bits are a list already; an option is given "
                            "either in the entry or in its sweep)")
        for values in itertools.product(*sweep.values()):
            chosen = dict(zip(sweep, values))
            suffix = "_".join(f"{k}{_sweep_text(v)}" for k, v in chosen.items())
            out.append({**base, **chosen, "label": f"{base.get('label', base.get('name'))}_{suffix}"})
    return out


def _sweep_text(value: Any) -> str:
    if isinstance(value, dict):
        return "-".join(f"{str(k).replace(':', '.')}{_sweep_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "-".join(_sweep_text(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _method_bits(path: str, name: str, bits: Any) -> tuple[int, ...]:
    if name == "fp32":
        if bits not in (None, FP32_BITS, [FP32_BITS]):
            _fail(path, f"method 'fp32' runs at 32 bits; remove 'bits = {bits}'")
        return (FP32_BITS,)
    if bits is None:
        return (8,)
    values = bits if isinstance(bits, list) else [bits]
    for b in values:
        if not isinstance(b, int) or isinstance(b, bool) or not 2 <= b <= 8:
            _fail(path, f"method '{name}': bit width {b!r} is not supported; use integers from 2 to 8")
    return tuple(values)


def _seeds(path: str, seeds: Any, where: str) -> tuple[int, ...]:
    """A non-empty list of distinct whole numbers from 0 to MAX_SEED, or a count (seeds 0..count-1)."""
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds > 0:
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds):
        _fail(path, f"{where} must be a non-empty list of integers (or a count)")
    for s in seeds:
        if not 0 <= s <= MAX_SEED:
            _fail(path, f"{where}: seed {s} is out of range; seeds are whole numbers from 0 to 2**63 - 1")
    if len(set(seeds)) < len(seeds):
        _fail(path, f"{where} lists a seed twice ({seeds!r}); give each seed once")
    return tuple(seeds)


def _suite_folds(path: str, folds: Any) -> Any:
    """``"all"``, a count >= 1, or a non-empty list of distinct fold indices >= 0. Whether a dataset has those
    folds is known once it is loaded: ``check_folds`` (run, not validate)."""
    if folds == "all" or (type(folds) is int and folds >= 1):
        return folds
    if (isinstance(folds, list) and folds and all(type(f) is int and f >= 0 for f in folds)
            and len(set(folds)) == len(folds)):
        return folds
    _fail(path, f"folds must be \"all\", a count, or a list of distinct fold indices from 0, got {folds!r}")


def _check_exclude(path: str, exclude: Any, present: dict[str, list]) -> None:
    """Each [[exclude]] rule names only datasets/archs/methods (labels) and bit widths the suite has."""
    if not isinstance(exclude, list) or not all(isinstance(e, dict) for e in exclude):
        _fail(path, "exclude must be an array of tables ([[exclude]])")
    for i, rule in enumerate(exclude):
        where = f"[[exclude]] entry {i + 1}"
        if not rule:
            _fail(path, f"{where} is empty, so it would exclude every trial; give some of: {', '.join(EXCLUDE_KEYS)}")
        for key, value in rule.items():
            if key not in EXCLUDE_KEYS:
                _unknown_key(path, "[[exclude]]", key, EXCLUDE_KEYS)
            values = value if isinstance(value, list) else [value]
            if not values:
                _fail(path, f"{where}: {key} = [] matches nothing; remove it or name some {key}")
            for v in values:
                if v not in present[key] or isinstance(v, bool):
                    choices = ", ".join(str(c) for c in present[key])
                    _fail(path, f"{where}: {key} {v!r} is not in the suite; choose from {choices}")


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite file (names checked against the registries)."""
    from dqbench.registry import ARCHS, DATASETS, METHODS

    p = Path(path)
    if not p.exists() and not p.suffix:
        shipped = Path(__file__).resolve().parents[2] / "suites"
        for candidate in (Path("suites") / f"{p}.toml", shipped / f"{p}.toml"):
            if candidate.exists():
                p = candidate
                break
    if not p.is_file():
        raise DQBenchError(f"suite file '{path}' not found; give a path to a .toml file or a name under suites/")
    try:
        raw = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DQBenchError(f"{p}: not valid TOML ({exc}); fix the syntax")
    sp = str(p)
    for key in raw:
        if key not in TOP_KEYS:
            _unknown_key(sp, "the suite", key, TOP_KEYS)
    _check_finite(sp, raw)
    name, description = raw.get("name", p.stem), raw.get("description", "")
    if not isinstance(name, str) or not name.strip():
        _fail(sp, f"name must be a non-empty string, got {name!r}")
    if not isinstance(description, str):
        _fail(sp, f"description must be a string, got {description!r}")
    kind = raw.get("kind", "accuracy")
    if kind not in ("accuracy", "latency"):
        _fail(sp, f"kind must be 'accuracy' or 'latency', got {kind!r}")
    seeds = _seeds(sp, raw.get("seeds", [0]), "seeds")
    folds = _suite_folds(sp, raw.get("folds", "all"))
    train = _settings(sp, "train", raw.get("train"), TRAIN_DEFAULTS, TRAIN_TYPES)
    datasets = _entries(sp, raw, "datasets", DATASETS, reserved=("root", "seed"))
    archs = _entries(sp, raw, "archs", ARCHS, reserved=("in_channels", "out_channels", "task"))
    methods = _entries(sp, raw, "methods", METHODS, reserved=())
    for m in methods:
        for b in m.bits:
            _instantiate_method(sp, m, b)
    _check_point_bits(sp, methods, archs)
    exclude = raw.get("exclude", [])
    _check_exclude(sp, exclude, {
        "dataset": [d.label for d in datasets], "arch": [a.label for a in archs],
        "method": list(dict.fromkeys(m.label for m in methods)),
        "bits": sorted({b for m in methods for b in m.bits}),
    })
    latency = _settings(sp, "latency", raw.get("latency"), LATENCY_DEFAULTS, LATENCY_TYPES)
    _check_latency(sp, latency)
    compare = _settings(sp, "compare", raw.get("compare"), COMPARE_DEFAULTS, COMPARE_TYPES)
    return SuiteSpec(
        name=name, path=sp, kind=kind, description=description,
        seeds=tuple(seeds), folds=folds, train=train, datasets=datasets, archs=archs, methods=methods,
        exclude=tuple(exclude), latency=latency, compare=compare,
    )


def _instantiate_method(path: str, entry: Entry, bits: int) -> None:
    """Build the method once so its own checks (bit widths, option values) run before any trial."""
    from dqbench.models import build_method

    try:
        build_method({"method_name": entry.name, "method_kwargs": entry.kwargs, "bits": bits})
    except DQBenchError as exc:
        _fail(path, f"method '{entry.label}' at {bits} bits: {exc}")
    except (TypeError, ValueError) as exc:
        _fail(path, f"method '{entry.label}' at {bits} bits: {exc}")


def _check_point_bits(path: str, methods: list[Entry], archs: list[Entry]) -> None:
    """A method's ``role_bits`` keys that name one quantization point ('path:role') must exist in each arch
    (node or graph task), checked on small instances of the archs before any trial."""
    from dqbench.quant.role_bits import check_points
    from dqbench.registry import ARCHS

    per_point = [m for m in methods if any(":" in str(k) for k in (m.kwargs.get("role_bits") or {}))]
    for a in archs if per_point else []:
        points = set()
        for task in ("node", "graph"):
            try:
                model = ARCHS.get(a.name)(in_channels=4, out_channels=2, task=task, **a.kwargs)
            except (DQBenchError, TypeError, ValueError):
                continue
            points |= {f"{p.path}:{p.role}" for p in model.quant_points()}
        for m in per_point:
            try:
                check_points(m.kwargs["role_bits"], points, a.label)
            except DQBenchError as exc:
                _fail(path, f"method '{m.label}': {exc}")


def _excluded(suite: SuiteSpec, d: Entry, a: Entry, m: Entry, bits: int) -> bool:
    values = {"dataset": d.label, "arch": a.label, "method": m.label, "bits": bits}
    for rule in suite.exclude:
        if all((v in rule[k]) if isinstance(rule[k], list) else v == rule[k] for k, v in values.items() if k in rule):
            return True
    return False


def trial_id(config: dict) -> str:
    """Stable, readable id: the main axes plus a hash of the whole configuration."""
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
    parts = [config["dataset"], config["arch"], config["method"],
             "fp32" if config["bits"] == FP32_BITS else f"int{config['bits']}", f"s{config['seed']}",
             f"f{config['fold']}"]
    if "threads" in config:
        parts.append(f"t{config['threads']}")
    return "-".join(str(p) for p in parts) + "-" + digest


def expand(suite: SuiteSpec, num_folds: dict[str, int] | None = None, filters: dict | None = None,
           quick: bool = False) -> list[TrialSpec]:
    """The trial matrix, in a deterministic order. ``num_folds`` maps dataset label -> folds it has.

    ``quick`` keeps the whole matrix but only the first seed and fold, with at most QUICK_EPOCHS epochs (CI).
    """
    trials = []
    filters = filters or {}
    if num_folds is not None:
        check_folds(suite, num_folds)
    for d in suite.datasets:
        folds = _folds(suite.folds, (num_folds or {}).get(d.label, 1)) if suite.kind == "accuracy" else [0]
        seeds = d.seeds or suite.seeds
        if quick:
            folds, seeds = folds[:1], seeds[:1]
        folds = [f for f in folds if not filters.get("fold") or f in filters["fold"]]
        seeds = [s for s in seeds if not filters.get("seed") or s in filters["seed"]]
        for a in suite.archs:
            for m in suite.methods:
                for bits in m.bits:
                    if _excluded(suite, d, a, m, bits) or not _selected(filters, d, a, m, bits):
                        continue
                    train = {**suite.train, **d.train, **a.train, **m.train}
                    if quick:
                        train["epochs"] = min(train["epochs"], QUICK_EPOCHS)
                    threads_list = suite.latency["threads"] if suite.kind == "latency" else [None]
                    for seed in seeds:
                        for fold in folds:
                            for threads in threads_list:
                                spec = TrialSpec("", suite.kind, d, a, m, bits, seed, fold, train, threads)
                                trials.append(replace(spec, trial_id=trial_id(spec.config())))
    return trials


def check_folds(suite: SuiteSpec, num_folds: dict[str, int]) -> None:
    """Refuse ``folds`` (indices, or a count) beyond what a cross-validated dataset has; a single split runs fold 0
    whatever ``folds`` says. Fold counts are known once the datasets are loaded, so ``run`` (and ``run --plan``,
    ``trace``) check this before the first trial, and ``validate`` (which loads no data) cannot."""
    if suite.kind != "accuracy" or suite.folds == "all":
        return
    last = max(suite.folds) if isinstance(suite.folds, list) else suite.folds - 1
    for d in suite.datasets:
        available = num_folds.get(d.label, 1)
        if available > 1 and last >= available:
            raise DQBenchError(f"{suite.path}: folds = {suite.folds!r} goes beyond dataset '{d.label}', which has "
                               f"{available} folds (0..{available - 1}); give folds it has, or \"all\"")


def _folds(folds: Any, available: int) -> list[int]:
    if folds == "all":
        return list(range(available))
    if isinstance(folds, int):
        return list(range(min(folds, available)))
    return [f for f in folds if f < available] or [0]


FILTER_KEYS = {"dataset": str, "arch": str, "method": str, "bits": str, "seed": int, "fold": int}  # name -> CLI type


def _selected(filters: dict, d: Entry, a: Entry, m: Entry, bits: int) -> bool:
    values = {"dataset": d.label, "arch": a.label, "method": m.label, "bits": str(bits)}
    return all(values[k] in {str(x) for x in allowed} for k, allowed in filters.items() if allowed and k in values)


def check_filters(suite: SuiteSpec, filters: dict) -> None:
    """A filter naming nothing in the suite is almost surely a typo: say so."""
    present = {
        "dataset": {d.label for d in suite.datasets}, "arch": {a.label for a in suite.archs},
        "method": {m.label for m in suite.methods}, "bits": {str(b) for m in suite.methods for b in m.bits},
        "seed": {str(s) for s in suite.seeds} | {str(s) for d in suite.datasets for s in d.seeds},
    }
    for key, allowed in filters.items():
        if key == "fold":
            bad = [f for f in allowed or () if not isinstance(f, int) or f < 0]
            if bad:
                raise DQBenchError(f"--fold {bad[0]}: folds are numbered from 0")
            continue
        for value in allowed or ():
            if str(value) not in present[key]:
                raise DQBenchError(
                    f"--{key} {value}: not in suite '{suite.name}'; choose from {', '.join(sorted(present[key]))}"
                )
