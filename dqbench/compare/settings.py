"""Compare tolerances: the run's suite ``[compare]`` table, else ``COMPARE_DEFAULTS``.

Only the ``[compare]`` table is read (tomllib), so comparing needs neither torch nor the registries, and still
works after a suite's datasets or methods were renamed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from dqbench.compare.snapshot import Snapshot
from dqbench.errors import DQBenchError
from dqbench.run.suite import COMPARE_DEFAULTS, COMPARE_TYPES, _settings

REPO_SUITES = Path(__file__).resolve().parent.parent.parent / "suites"


def suite_file(run: Snapshot) -> Path | None:
    """The suite file named in run.json (as given, relative to the run's parent or cwd), else suites/<name>.toml."""
    suite = run.info.get("suite") or {}
    candidates = []
    if suite.get("path"):
        p = Path(suite["path"])
        candidates += [p] if p.is_absolute() else [p, run.path.parent / p, REPO_SUITES.parent / p]
    if suite.get("name"):
        candidates += [Path("suites") / f"{suite['name']}.toml", REPO_SUITES / f"{suite['name']}.toml"]
    return next((c for c in candidates if c.is_file()), None)


def load_settings(run: Snapshot) -> tuple[dict, str]:
    """(tolerances, where they came from)."""
    path = suite_file(run)
    if path is None:
        return dict(COMPARE_DEFAULTS), "defaults (suite file not found)"
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise DQBenchError(f"{path}: cannot read the suite's [compare] table ({exc}); fix the file")
    settings = _settings(str(path), "compare", raw.get("compare"), COMPARE_DEFAULTS, COMPARE_TYPES)
    for key, value in settings.items():
        if value < 0 or (key == "alpha" and not 0 < value < 1):
            raise DQBenchError(f"{path}: compare.{key} = {value} is out of range; tolerances are >= 0, "
                               f"0 < alpha < 1")
    return settings, str(path)
