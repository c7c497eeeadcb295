import json

import pytest

from dqbench.errors import DQBenchError
from dqbench.run.records import read_records


def _line(tid, status="ok"):
    return json.dumps({"schema": 1, "trial_id": tid, "status": status, "config": {}, "metrics": {}}) + "\n"


def test_last_record_per_trial_wins(tmp_path):
    p = tmp_path / "trials.jsonl"
    p.write_text(_line("a", "failed") + _line("b") + _line("a"))
    recs, torn = read_records(p)
    assert torn is None
    assert [(r["trial_id"], r["status"]) for r in recs] == [("b", "ok"), ("a", "ok")]


def test_torn_last_line_is_returned_apart(tmp_path):
    p = tmp_path / "trials.jsonl"
    p.write_text(_line("a") + _line("b")[:20])
    with pytest.warns(UserWarning, match="unfinished last line"):
        recs, torn = read_records(p)
    assert [r["trial_id"] for r in recs] == ["a"]
    assert torn is not None and torn.startswith('{"schema"')


def test_corrupt_complete_line_is_a_one_line_error(tmp_path):
    p = tmp_path / "trials.jsonl"
    p.write_text(_line("a") + "garbage\n" + _line("b"))
    with pytest.raises(DQBenchError, match="line 2 is not a valid trial record"):
        read_records(p)
