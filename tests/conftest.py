"""Shared fixtures: a per-session dataset cache fed from the raw-data mirror, never downloading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One intra-op thread: tests stay fast and stable on a shared, loaded machine (subprocesses inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")
from dqbench import process_settings  # noqa: E402

process_settings.apply()  # as every dqbench process does, before torch does any work
import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def data_mirror() -> Path | None:
    env = os.environ.get("DQBENCH_DATA_MIRROR")
    if env:
        return Path(env)
    return SHARED_DATA if SHARED_DATA.exists() else None


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A DataRoot with a test-session cache (or DQBENCH_CACHE) and the local mirror."""
    from dqbench.datasets.paths import resolve_root

    cache = os.environ.get("DQBENCH_CACHE") or str(tmp_path_factory.mktemp("cache"))
    mirror = data_mirror()
    return resolve_root(cache=cache, mirror=str(mirror) if mirror else None)


@pytest.fixture
def real_root(data_root):
    """``real_root(relpath)``: the session DataRoot, or skip unless the mirror or cache holds ``relpath``."""

    def get(relpath: str):
        mirrored = data_root.mirror is not None and (data_root.mirror / relpath).is_dir()
        if not mirrored and not (data_root.cache / relpath).is_dir():
            pytest.skip(f"{relpath} not in the data mirror; set DQBENCH_DATA_MIRROR")
        return data_root

    return get


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests never download: any HTTP(S) attempt fails fast."""
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
