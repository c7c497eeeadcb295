import time
from pathlib import Path

import pytest

from dqbench.datasets.paths import DEFAULT_CACHE, DataRoot, load, resolve_root, stage
from dqbench.errors import DQBenchError
from dqbench.registry import DATASETS


def test_resolve_root_options_beat_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DQBENCH_CACHE", str(tmp_path / "envcache"))
    monkeypatch.setenv("DQBENCH_DATA_MIRROR", str(tmp_path))
    assert resolve_root() == DataRoot(tmp_path / "envcache", tmp_path)
    (tmp_path / "m").mkdir()
    assert resolve_root(cache=tmp_path / "c", mirror=tmp_path / "m") == DataRoot(tmp_path / "c", tmp_path / "m")


def test_resolve_root_default(monkeypatch):
    monkeypatch.delenv("DQBENCH_CACHE", raising=False)
    monkeypatch.delenv("DQBENCH_DATA_MIRROR", raising=False)
    assert resolve_root() == DataRoot(DEFAULT_CACHE, None)
    assert DEFAULT_CACHE == Path.home() / ".cache" / "dqbench" / "data"


def test_resolve_root_bad_mirror(tmp_path):
    with pytest.raises(DQBenchError, match="not a directory"):
        resolve_root(cache=tmp_path, mirror=tmp_path / "missing")


def _mirror(tmp_path) -> Path:
    raw = tmp_path / "mirror" / "Fam" / "Set" / "raw"
    raw.mkdir(parents=True)
    (raw / "a.txt").write_text("1 2\n")
    (raw / "b.txt").write_text("3\n")
    return tmp_path / "mirror"


def test_stage_copies_once_and_never_writes_mirror(tmp_path, snapshot):
    mirror = _mirror(tmp_path)
    before = snapshot(mirror)
    root = DataRoot(tmp_path / "cache", mirror)
    target = stage(root, "Fam/Set")
    assert target == tmp_path / "cache" / "Fam" / "Set"
    assert (target / "raw" / "a.txt").read_text() == "1 2\n"
    (target / "processed").mkdir()
    (target / "processed" / "p.pt").write_text("x")
    assert stage(root, "Fam/Set") == target
    assert (target / "processed" / "p.pt").exists()  # complete cache: not copied again
    assert snapshot(mirror) == before
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_stage_replaces_incomplete_cache(tmp_path):
    mirror = _mirror(tmp_path)
    root = DataRoot(tmp_path / "cache", mirror)
    (root.cache / "Fam" / "Set" / "raw").mkdir(parents=True)  # what a failed download leaves
    (root.cache / "Fam" / "Set" / "raw" / "a.txt").write_text("partial")
    target = stage(root, "Fam/Set")
    assert (target / "raw" / "a.txt").read_text() == "1 2\n" and (target / "raw" / "b.txt").exists()


def test_stage_without_mirror_copy_is_a_no_op(tmp_path):
    root = DataRoot(tmp_path / "cache", _mirror(tmp_path))
    assert stage(root, "Fam/Other") == root.cache / "Fam" / "Other"
    assert not (root.cache / "Fam" / "Other").exists()
    assert stage(DataRoot(tmp_path / "cache"), "Fam/Set") == root.cache / "Fam" / "Set"


def test_load_failure_on_present_files_says_delete(tmp_path):
    root = DataRoot(tmp_path / "cache", _mirror(tmp_path))

    def broken(folder):
        raise ValueError("bad\nfile")

    with pytest.raises(DQBenchError) as err:
        load("set", "Fam/Set", root, broken)
    msg = str(err.value)
    assert "'set'" in msg and "delete" in msg and "\n" not in msg


@pytest.mark.parametrize("name", ["cora", "citeseer", "mutag", "reddit-binary", "ogbg-molhiv"])
def test_missing_dataset_is_one_line_error(tmp_path, name):
    """Empty mirror, empty cache, network blocked (conftest proxies): fast one-line DQBenchError."""
    (tmp_path / "empty").mkdir()
    root = resolve_root(cache=tmp_path / "cache", mirror=tmp_path / "empty")
    start = time.monotonic()
    with pytest.raises(DQBenchError) as err:
        DATASETS.get(name)(root=root, seed=0)
    msg = str(err.value)
    assert f"'{name}'" in msg and "\n" not in msg
    assert "DQBENCH_DATA_MIRROR" in msg and "internet" in msg
    assert time.monotonic() - start < 30
    assert not any((tmp_path / "empty").iterdir())


def test_missing_dataset_twice_does_not_prompt(tmp_path, monkeypatch):
    """A failed ogb download leaves folders behind; the next attempt must fail the same way, not ask on stdin."""
    monkeypatch.delenv("DQBENCH_DATA_MIRROR", raising=False)
    root = resolve_root(cache=tmp_path / "cache")
    for _ in range(2):
        with pytest.raises(DQBenchError, match="ogbg-molhiv"):
            DATASETS.get("ogbg-molhiv")(root=root, seed=0)


def test_ogb_folder_without_release_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DQBENCH_DATA_MIRROR", raising=False)
    folder = tmp_path / "cache" / "ogb" / "ogbg_molhiv" / "raw"
    folder.mkdir(parents=True)
    (folder / "edge.csv.gz").write_text("x")
    with pytest.raises(DQBenchError, match="RELEASE_v1.txt"):
        DATASETS.get("ogbg-molhiv")(root=resolve_root(cache=tmp_path / "cache"), seed=0)
