import json

import pytest

from dqbench.errors import DQBenchError
from dqbench.run.store import RunStore


def _rec(tid):
    return {"schema": 1, "trial_id": tid, "status": "ok", "config": {}, "metrics": {"test": 0.5}}


def test_append_and_resume(tmp_path):
    store = RunStore(tmp_path / "run")
    assert store.open("s", lambda: {"suite": {"name": "s"}}) == {}
    store.append(_rec("a"))
    store.append(_rec("b"))
    again = RunStore(tmp_path / "run").open("s", lambda: pytest.fail("run.json must be written once"))
    assert set(again) == {"a", "b"}


def test_torn_tail_is_set_aside_not_lost(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open("s", lambda: {"suite": {"name": "s"}})
    store.append(_rec("a"))
    with open(store.records_path, "a") as f:
        f.write(json.dumps(_rec("b"))[:15])
    with pytest.warns(UserWarning):
        done = RunStore(tmp_path / "run").open("s", lambda: {})
    assert set(done) == {"a"}
    assert store.records_path.read_text().endswith("\n")
    assert len(list((tmp_path / "run").glob("trials.jsonl.torn-*"))) == 1


def test_other_suite_in_same_directory_is_refused(tmp_path):
    RunStore(tmp_path / "run").open("s", lambda: {"suite": {"name": "s"}})
    with pytest.raises(DQBenchError, match="holds a run of suite 's'"):
        RunStore(tmp_path / "run").open("other", lambda: {})


def test_pieces_log_skips_unreadable_lines(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open("s", lambda: {"suite": {"name": "s"}})
    assert store.pieces() == []
    store.log_piece({"command": "dqbench run s --dataset a", "to_run": 3})
    with open(tmp_path / "run" / "pieces.jsonl", "a") as f:
        f.write('{"command": "dqbench run s --dat')
    store.log_piece({"command": "dqbench run s", "to_run": 1})
    assert [p["to_run"] for p in store.pieces()] == [3]  # the torn line swallowed the next one's start


def test_piece_end_is_merged_into_its_start(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open("s", lambda: {"suite": {"name": "s"}})
    store.log_piece({"command": "dqbench run s --fold 0", "to_run": 3, "piece": "a"})
    store.log_piece({"command": "dqbench run s --fold 1", "to_run": 2, "piece": "b"})  # a second one, side by side
    store.end_piece("b", ran=2, failed=0, outcome="finished")
    store.end_piece("a", ran=1, failed=0, outcome="interrupted")
    store.log_piece({"command": "dqbench run s --fold 2", "to_run": 1, "piece": "c"})  # still running, or killed
    first, second, third = store.pieces()
    assert (first["command"], first["ran"], first["outcome"]) == ("dqbench run s --fold 0", 1, "interrupted")
    assert (second["to_run"], second["ran"], second["outcome"]) == (2, 2, "finished")
    assert "outcome" not in third and third["to_run"] == 1
