"""Where data lives: a cache root, plus an optional local raw mirror (air-gapped clusters, CI) copied into it."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dqbench.errors import DQBenchError

DEFAULT_CACHE = Path.home() / ".cache" / "dqbench" / "data"


@dataclass(frozen=True)
class DataRoot:
    cache: Path
    mirror: Path | None = None


def resolve_root(cache: str | None = None, mirror: str | None = None) -> DataRoot:
    """Options first, then env DQBENCH_CACHE / DQBENCH_DATA_MIRROR, then ~/.cache/dqbench/data."""
    cache_path = Path(cache or os.environ.get("DQBENCH_CACHE") or DEFAULT_CACHE).expanduser()
    mirror_value = mirror or os.environ.get("DQBENCH_DATA_MIRROR")
    mirror_path = Path(mirror_value).expanduser() if mirror_value else None
    if mirror_path is not None and not mirror_path.is_dir():
        raise DQBenchError(f"data mirror {mirror_path} is not a directory; fix --data-mirror / DQBENCH_DATA_MIRROR")
    return DataRoot(cache=cache_path, mirror=mirror_path)


def stage(root: DataRoot, relpath: str) -> Path:
    """Make sure ``cache/relpath`` holds the raw files: copy them from the mirror if needed (never write there).

    Returns ``cache/relpath``. Without a mirror copy, the library class downloads as usual.
    """
    target = root.cache / relpath
    if root.mirror is not None and (root.mirror / relpath).is_dir() and not _has_raw(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        shutil.copytree(root.mirror / relpath, tmp / "d")
        if target.exists():  # a half-staged folder from an interrupted copy
            shutil.rmtree(target)
        os.replace(tmp / "d", target)
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _has_raw(path: Path) -> bool:
    return path.is_dir() and any(path.rglob("*"))


def missing_dataset_error(name: str, relpath: str, root: DataRoot, exc: BaseException) -> DQBenchError:
    where = f"mirror {root.mirror} has no {relpath}" if root.mirror else "no data mirror is set"
    return DQBenchError(
        f"dataset '{name}' is not in the cache {root.cache} and could not be downloaded ({where}; "
        f"{type(exc).__name__}); connect to the internet, or point --data-mirror / DQBENCH_DATA_MIRROR at a folder "
        f"with {relpath}/raw"
    )
