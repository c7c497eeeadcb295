"""Locating the compiled core (dqbench.kernels.build): an installed build of other sources than csrc/ is replaced
by a build of the current sources, with a warning."""

from __future__ import annotations

import importlib
import shutil
import sysconfig
import types
from pathlib import Path

import pytest

from dqbench.kernels import build


def fake_installed(monkeypatch, source_hash):
    installed = types.SimpleNamespace(SOURCE_HASH=source_hash, name="installed")
    monkeypatch.setattr(build.importlib, "import_module", lambda name: installed)
    return installed


def test_source_hash_covers_the_sources(tmp_path):
    (tmp_path / "kernels.cpp").write_text("int a;")
    (tmp_path / "notes.txt").write_text("not compiled")
    h = build.source_hash(tmp_path)
    (tmp_path / "notes.txt").write_text("edited")
    assert build.source_hash(tmp_path) == h
    (tmp_path / "kernels.cpp").write_text("int b;")
    assert build.source_hash(tmp_path) != h


def test_current_installed_build_is_used(monkeypatch):
    installed = fake_installed(monkeypatch, build.source_hash())
    monkeypatch.setattr(build, "_compile", lambda out, source: pytest.fail("must not compile"))
    assert build.load_kernels() is installed


def test_stale_installed_build_is_rebuilt(monkeypatch, tmp_path):
    fake_installed(monkeypatch, "0123456789ab")
    monkeypatch.setenv("DQBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("DQBENCH_NO_JIT", raising=False)
    built = []
    monkeypatch.setattr(build, "_compile", lambda out, source: (built.append((out, source)), out.write_text("")))
    monkeypatch.setattr(build, "import_core", lambda path: types.SimpleNamespace(name="jit", path=path))
    with pytest.warns(RuntimeWarning, match="older than dqbench/kernels/csrc"):
        got = build.load_kernels()
    assert got.name == "jit" and built == [(got.path, build.source_hash())] and build.source_hash() in got.path.name


def test_stale_build_kept_when_jit_is_off(monkeypatch):
    installed = fake_installed(monkeypatch, "")
    monkeypatch.setenv("DQBENCH_NO_JIT", "1")
    with pytest.warns(RuntimeWarning):
        assert build.load_kernels() is installed


def test_a_rebuilt_core_loads_beside_the_installed_one(tmp_path):
    """Extension modules are cached by name: a JIT build imported after the installed core must come back as
    itself (not as the installed module), its bound types registered beside the installed one's."""
    try:
        installed = importlib.import_module("dqbench.kernels._core")
    except ImportError:
        pytest.skip("no compiled core installed here")
    copy = tmp_path / f"_core-0123456789ab{sysconfig.get_config_var('EXT_SUFFIX')}"
    shutil.copyfile(installed.__file__, copy)
    rebuilt = build.import_core(copy)
    assert rebuilt is not installed and Path(rebuilt.__file__) == copy
    assert isinstance(rebuilt.Epi(), rebuilt.Epi)
