"""Where data lives: a cache root, plus an optional local raw mirror (air-gapped clusters, CI) copied into it.

A mirror holds the raw layouts the library classes expect (``Planetoid/Cora/raw/...``, ``TUDataset/NAME/raw/...``,
``ogb/ogbg_molhiv/...``). It is only ever read: a dataset folder missing from the cache is copied into it
(to a temporary folder first, then renamed), and the library class processes it there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from dqbench.errors import DQBenchError

DEFAULT_CACHE = Path.home() / ".cache" / "dqbench" / "data"
T = TypeVar("T")


@dataclass(frozen=True)
class DataRoot:
    cache: Path
    mirror: Path | None = None


def resolve_root(cache: str | Path | None = None, mirror: str | Path | None = None) -> DataRoot:
    """Options first, then env DQBENCH_CACHE / DQBENCH_DATA_MIRROR, then ~/.cache/dqbench/data (no mirror)."""
    cache_path = Path(cache or os.environ.get("DQBENCH_CACHE") or DEFAULT_CACHE).expanduser()
    mirror_value = mirror or os.environ.get("DQBENCH_DATA_MIRROR")
    mirror_path = Path(mirror_value).expanduser() if mirror_value else None
    if mirror_path is not None and not mirror_path.is_dir():
        raise DQBenchError(f"data mirror {mirror_path} is not a directory; fix --data-mirror / DQBENCH_DATA_MIRROR")
    if cache_path.exists() and not cache_path.is_dir():
        raise DQBenchError(f"data cache {cache_path} is not a directory; fix --cache / DQBENCH_CACHE")
    return DataRoot(cache=cache_path, mirror=mirror_path)


def _files(folder: Path) -> list[Path]:
    return [p.relative_to(folder) for p in folder.rglob("*") if p.is_file()]


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def is_staged(target: Path, source: Path) -> bool:
    """True if every file of the mirror's ``source`` folder exists under the cache's ``target`` folder."""
    return target.is_dir() and all((target / rel).is_file() for rel in _files(source))


def stage(root: DataRoot, relpath: str) -> Path:
    """Make sure ``cache/relpath`` holds the mirror's files for ``relpath`` (if the mirror has them); return it.

    Copies only when the cache lacks some of them (an empty or half-downloaded folder is replaced). Without a
    mirror copy nothing happens and the library class downloads as usual.
    """
    target = root.cache / relpath
    source = root.mirror / relpath if root.mirror is not None else None
    if source is None or not source.is_dir() or is_staged(target, source):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
        try:
            shutil.copytree(source, tmp / target.name)
            if target.exists():
                shutil.rmtree(target)
            try:
                os.replace(tmp / target.name, target)
            except OSError:  # another process staged it meanwhile
                if not is_staged(target, source):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise DQBenchError(f"could not copy {source} into the cache {target.parent} ({_brief(exc)}); "
                           "check that --cache / DQBENCH_CACHE is writable and has space") from None
    return target


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load(name: str, relpath: str, root: DataRoot, build: Callable[[Path], T]) -> T:
    """Stage ``relpath`` from the mirror, then ``build(cache/relpath)`` with the library class.

    A failure when the cache had no files (the class had to download) becomes a one-line DQBenchError naming the
    dataset and the ways to provide it; a failure on files already there says which folder to delete.
    """
    target = stage(root, relpath)
    had_files = _has_files(target)
    try:
        return build(target)
    except DQBenchError:
        raise
    except Exception as exc:
        if had_files:
            raise DQBenchError(f"dataset '{name}' in {target} could not be loaded ({_brief(exc)}); delete that "
                               "folder so it is staged or downloaded again") from None
        raise missing_dataset_error(name, relpath, root, exc) from None


def missing_dataset_error(name: str, relpath: str, root: DataRoot, exc: BaseException) -> DQBenchError:
    where = f"mirror {root.mirror} has no {relpath}" if root.mirror else "no data mirror is set"
    return DQBenchError(
        f"dataset '{name}' is not in the cache {root.cache} and could not be downloaded ({where}; "
        f"{type(exc).__name__}); connect to the internet, or point --data-mirror / DQBENCH_DATA_MIRROR at a folder "
        f"holding {relpath}/ in the raw layout"
    )
