"""A plugin installed with pip is found through the real entry-point mechanism, listed, and usable in a suite."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "examples" / "dqbench-example-plugin"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(PLUGIN)], check=True, capture_output=True)
    return target


def _env(site, data_root=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
    if data_root is not None:
        env["DQBENCH_CACHE"] = str(data_root.cache)
    return env


def test_list_shows_plugin_method_and_its_package(plugin_site):
    out = subprocess.run([sys.executable, "-m", "dqbench.cli", "list", "methods"], env=_env(plugin_site),
                         capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("weight_only_qat"))
    assert "dqbench-example-plugin" in line


def test_without_plugin_the_name_is_unknown(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dqbench.cli", "list", "methods"], env=_env(tmp_path),
                         capture_output=True, text=True, check=True).stdout
    assert "weight_only_qat" not in out


def test_suite_uses_plugin_method(plugin_site, tmp_path, data_root):
    suite = tmp_path / "plug.toml"
    suite.write_text('name = "plug"\nseeds = [0]\n[train]\nepochs = 3\n[[datasets]]\nname = "synthetic"\n'
                     'num_nodes = 100\n[[archs]]\nname = "gcn"\nhidden = 8\n[[methods]]\nname = "weight_only_qat"\n'
                     'bits = [4]\n')
    res = subprocess.run([sys.executable, "-m", "dqbench.cli", "run", str(suite), "--out", str(tmp_path / "run"),
                          "--no-progress"], env=_env(plugin_site, data_root), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "run" / "trials.jsonl").read_text()
    assert '"method": "weight_only_qat"' in text and '"status": "ok"' in text
