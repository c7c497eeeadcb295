"""One registry mechanism for datasets, architectures, methods and backends, with entry-point plugins.

Built-ins register themselves when their package is imported; third-party packages register through the
entry-point group ``dqbench.plugins`` (each entry point names a module or a callable that registers things).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

from dqbench.errors import DQBenchError

ENTRY_POINT_GROUP = "dqbench.plugins"
BUILTIN = "built-in"
_BUILTIN_PACKAGES = ("dqbench.datasets", "dqbench.archs", "dqbench.methods", "dqbench.engine.backends")

_current_source = BUILTIN
_loaded = False
_loading = False


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    source: str


class Registry:
    """Named things of one kind (e.g. 'arch'); names are unique across built-ins and plugins."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""
        if obj is None:
            return lambda o: self.register(name, o)
        if name in self._entries:
            prev = self._entries[name]
            raise DQBenchError(
                f"duplicate {self.kind} name '{name}' (from {_current_source}; already registered by {prev.source}); "
                "rename one of them"
            )
        self._entries[name] = Entry(name, obj, _current_source)
        return obj

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry:
        load_all()
        if name not in self._entries:
            raise DQBenchError(self.unknown_message(name))
        return self._entries[name]

    def unknown_message(self, name: str) -> str:
        valid = sorted(self._entries)
        close = difflib.get_close_matches(str(name), valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown {self.kind} '{name}'; {hint}valid: {', '.join(valid)}"

    def names(self) -> list[str]:
        load_all()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        load_all()
        return [self._entries[n] for n in sorted(self._entries)]

    def __contains__(self, name: str) -> bool:
        load_all()
        return name in self._entries

    def check_kwargs(self, name: str, kwargs: dict, *, reserved: tuple[str, ...] = ()) -> None:
        """Raise DQBenchError if ``kwargs`` are not accepted by the registered callable, or give a non-boolean to
        an option whose default is a boolean (``bool("no")`` would read as true)."""
        obj = self.get(name)
        params, flags = accepted_kwargs(obj, reserved), boolean_options(obj)
        for key, value in kwargs.items():
            if params is not None and key not in params:
                close = difflib.get_close_matches(key, sorted(params), n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise DQBenchError(
                    f"{self.kind} '{name}' has no option '{key}'; {hint}valid: {', '.join(sorted(params)) or '(none)'}"
                )
            if key in flags and not isinstance(value, bool):
                raise DQBenchError(f"{self.kind} '{name}' option '{key}' takes true or false, got {value!r}")


def accepted_kwargs(obj: Callable, reserved: tuple[str, ...] = ()) -> set[str] | None:
    """Keyword names a callable accepts (None if it takes **kwargs)."""
    sig = inspect.signature(obj)
    names = set()
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            names.add(p.name)
    return names - set(reserved) - {"self"}


def boolean_options(obj: Callable) -> set[str]:
    """Keyword names of a callable whose default is True or False."""
    return {p.name for p in inspect.signature(obj).parameters.values() if isinstance(p.default, bool)}


DATASETS = Registry("dataset")
ARCHS = Registry("arch")
METHODS = Registry("method")
BACKENDS = Registry("backend")
REGISTRIES = {"datasets": DATASETS, "archs": ARCHS, "methods": METHODS, "backends": BACKENDS}


@contextmanager
def _source(name: str):
    global _current_source
    prev, _current_source = _current_source, name
    try:
        yield
    finally:
        _current_source = prev


def load_all() -> None:
    """Import built-ins, then every installed plugin (once)."""
    global _loaded, _loading
    if _loaded or _loading:
        return
    _loading = True
    try:
        for pkg in _BUILTIN_PACKAGES:
            try:
                importlib.import_module(pkg)
            except ModuleNotFoundError as exc:  # a part not built yet must not hide the others
                if exc.name != pkg:
                    raise
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else ep.value
            with _source(dist):
                try:
                    target = ep.load()
                except Exception as exc:  # a broken plugin is the user's to fix, in one line
                    raise DQBenchError(f"plugin '{ep.name}' from {dist} failed to load: {exc}; fix or uninstall it")
                if callable(target) and not inspect.ismodule(target):
                    target()
        _loaded = True
    finally:
        _loading = False


def option_checks(*checks: Callable[..., None]) -> Callable:
    """Decorator of a registered factory (dataset, arch): as a suite loads, each of ``checks`` is called with the
    entry's options it names (the factory's defaults filled in) and raises DQBenchError on a bad value, so the
    suite is refused before its first trial without loading data or building a model."""

    def attach(factory: Callable) -> Callable:
        factory.suite_checks = checks
        return factory

    return attach
