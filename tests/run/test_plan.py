"""What a run directory holds of a suite: per-cell counts and the seeds/folds left."""

from dqbench.cli import main
from dqbench.run.plan import duration, progress_rows, spans
from dqbench.run.suite import expand, load_suite

PICK = {"arch": ["gcn"], "method": ["fp32", "qat"]}  # smoke: seeds 0-1, fp32 and qat at INT8 and INT4


def test_spans():
    assert spans([5, 0, 1, 2, 7, 8]) == "0–2, 5, 7–8"
    assert spans([3]) == "3" and spans([]) == ""


def test_rows_count_done_failed_and_left():
    trials = expand(load_suite("smoke"), {"synthetic": 3}, PICK)  # 2 seeds x 3 folds per cell
    by_cell = {}
    for t in trials:
        by_cell.setdefault((t.method.label, t.bits), []).append(t)
    done = {t.trial_id: _ok(t, 10.0) for t in by_cell[("fp32", 32)]}
    done.update({t.trial_id: _ok(t, 30.0 + t.fold) for t in by_cell[("qat", 8)] if t.seed == 0})
    failed = next(t for t in by_cell[("qat", 8)] if t.seed == 1 and t.fold == 1)
    done[failed.trial_id] = {"status": "failed", "config": failed.config()}
    rows = {(r.method, r.bits): list(r[4:]) for r in progress_rows(trials, done)}
    assert rows[("fp32", 32)] == [6, 0, 0, "", 0.0]
    assert rows[("qat", 8)] == [3, 1, 3, "folds 0–2", 3 * 31.0]  # one seed left: its folds, at the cell's pace
    dataset_pace = (6 * 10.0 + 30 + 31 + 32) / 9  # no finished trial in the cell: the dataset's pace
    assert rows[("qat", 4)] == [0, 0, 6, "seed 0 folds 0–2; seed 1 folds 0–2", 6 * dataset_pace]

    plain = expand(load_suite("smoke"), filters=PICK)  # no folds: seeds only
    rows = {(r.method, r.bits): list(r[4:]) for r in progress_rows(plain, {plain[0].trial_id: {"status": "ok"}})}
    assert rows[(plain[0].method.label, plain[0].bits)] == [1, 0, 1, "seed 1", None]  # no pace measured
    assert rows[("qat", 4)][3] == "seeds 0–1"


def test_pace_counts_finished_trials_outside_the_selection():
    trials = expand(load_suite("smoke"), {"synthetic": 3}, PICK)
    qat8 = [t for t in trials if (t.method.label, t.bits) == ("qat", 8)]
    done = {t.trial_id: _ok(t, 20.0) for t in qat8 if t.seed == 0}
    selected = [t for t in qat8 if t.seed == 1]  # as `--plan --seed 1`: none of the finished trials is selected
    (row,) = progress_rows(selected, done)
    assert (row.done, row.to_run, row.seconds_left) == (0, 3, 3 * 20.0)


def test_trials_to_be_copied_take_no_training_time():
    trials = expand(load_suite("smoke"), {"synthetic": 3}, PICK)
    qat8 = [t for t in trials if (t.method.label, t.bits) == ("qat", 8)]
    done = {t.trial_id: _ok(t, 20.0) for t in qat8 if t.seed == 0}
    left = [t for t in qat8 if t.seed == 1]
    (row,) = progress_rows(qat8, done, copied={left[0].trial_id})  # as `--plan --reuse`: one would be copied
    assert (row.done, row.to_run, row.seconds_left) == (3, 3, 2 * 20.0)
    (row,) = progress_rows(qat8, done, copied={t.trial_id for t in left})
    assert (row.to_run, row.seconds_left, duration(row.seconds_left)) == (3, 0.0, "")


def _ok(trial, seconds: float) -> dict:
    return {"status": "ok", "config": trial.config(), "metrics": {"train_time_s": seconds}}


def test_duration():
    assert (duration(None), duration(0.0), duration(2400.0), duration(4 * 3600.0)) == ("?", "", "40 min", "4.0 h")


def test_plan_runs_nothing_and_reports_what_is_left(tmp_path, data_root, capsys):
    out = tmp_path / "run"
    common = ["--out", str(out), "--no-progress", "--cache", str(data_root.cache), "--arch", "gcn"]
    assert main(["run", "smoke", "--plan", *common]) == 0
    assert not out.exists()  # planning creates nothing
    assert "0 of 14 selected trials done, 0 failed, 14 to run; no time estimate yet" in capsys.readouterr().out
    assert main(["run", "smoke", "--method", "fp32", *common]) == 0
    capsys.readouterr()
    assert main(["run", "smoke", "--plan", *common]) == 0
    text = capsys.readouterr().out
    assert "2 of 14 selected trials done, 0 failed, 12 to run; about" in text  # paced by the 2 finished trials
    assert len((out / "trials.jsonl").read_text().splitlines()) == 2  # still only the fp32 trials
    assert main(["run", "paper_node", "--plan", "--out", str(out)]) == 2  # another suite's directory: refused
    assert "holds a run of suite 'smoke'" in capsys.readouterr().err


def test_fold_zero_alone_is_named_as_a_fold_when_the_dataset_is_cross_validated():
    trials = expand(load_suite("smoke"), {"synthetic": 3}, {**PICK, "fold": [0], "seed": [0]})
    assert {r.left for r in progress_rows(trials, {})} == {"seed 0"}  # nothing says the dataset has folds
    assert {r.left for r in progress_rows(trials, {}, folded={"synthetic"})} == {"fold 0"}
