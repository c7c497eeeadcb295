"""One real local Ray instance per test session (``ray.init(num_cpus=2)``), its workers able to load the crash
plugin (tests/fixtures/dqbench-crash-plugin) and unable to download anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CRASH_PLUGIN = REPO / "tests" / "fixtures" / "dqbench-crash-plugin"
NO_NETWORK = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """A site directory with the crash plugin installed by pip (found through its entry point)."""
    target = tmp_path_factory.mktemp("crash-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(CRASH_PLUGIN)], check=True, capture_output=True)
    return target


@pytest.fixture(scope="session")
def ray_cluster(plugin_site):
    """The session's Ray instance: (its address, the environment a driver process joining it needs)."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[test,ray]'")
    env = {**os.environ, **NO_NETWORK, "PYTHONPATH": os.pathsep.join([str(plugin_site), str(REPO)])}
    saved = dict(os.environ)
    os.environ.update(env)  # the raylet, and so every worker, starts with it
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="error", log_to_driver=False,
                 object_store_memory=128 * 1024 ** 2)
        auth = {k: os.environ[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN") if k in os.environ}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield ray.get_runtime_context().gcs_address, {**env, **auth}  # a local instance asks drivers for its token
    ray.shutdown()
