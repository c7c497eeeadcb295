import textwrap

import pytest

from dqbench.errors import DQBenchError
from dqbench.suite import check_filters, expand, load_suite

BASE = """
name = "t"
seeds = [0, 1]
[train]
epochs = 3
[[datasets]]
name = "synthetic"
num_nodes = 50
[[archs]]
name = "gcn"
[[methods]]
name = "fp32"
[[methods]]
name = "qat"
bits = [8, 4]
"""


def _suite(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(textwrap.dedent(text))
    return p


def test_expand_matrix_and_stable_ids(tmp_path):
    suite = load_suite(_suite(tmp_path, BASE))
    trials = expand(suite)
    assert len(trials) == 3 * 2  # (fp32, qat@8, qat@4) x 2 seeds
    assert len({t.trial_id for t in trials}) == len(trials)
    assert [t.trial_id for t in expand(load_suite(_suite(tmp_path, BASE)))] == [t.trial_id for t in trials]
    assert trials[0].train["epochs"] == 3 and trials[0].train["lr"] == 0.01


def test_folds_and_exclude_and_filters(tmp_path):
    suite = load_suite(_suite(tmp_path, BASE + '\n[[exclude]]\nmethod = "qat"\nbits = 4\n'))
    trials = expand(suite, {"synthetic": 3})
    assert len(trials) == 2 * 2 * 3
    assert {t.fold for t in trials} == {0, 1, 2}
    only = expand(suite, {"synthetic": 3}, {"method": ["qat"]})
    assert {t.method.name for t in only} == {"qat"} and len(only) == 6
    piece = expand(suite, {"synthetic": 3}, {"fold": [0, 2], "seed": [1]})
    assert {(t.fold, t.seed) for t in piece} == {(0, 1), (2, 1)} and len(piece) == 2 * 2
    assert {t.trial_id for t in piece} <= {t.trial_id for t in trials}  # a piece has the same ids as the whole


def test_seed_and_fold_filters_checked(tmp_path):
    suite = load_suite(_suite(tmp_path, BASE))
    check_filters(suite, {"seed": [0], "fold": [3]})
    with pytest.raises(DQBenchError, match="--seed 7: not in suite"):
        check_filters(suite, {"seed": [7]})
    with pytest.raises(DQBenchError, match="--fold -1: folds are numbered from 0"):
        check_filters(suite, {"fold": [-1]})


@pytest.mark.parametrize("patch, message", [
    ('[[archs]]\nname = "gcm"\n', "did you mean 'gcn'"),
    ('[[methods]]\nname = "qat"\nbits = 9\n', "bit width 9 is not supported"),
    ('[[methods]]\nname = "qat"\nbits = "8"\n', "bit width '8' is not supported"),
    ('[[methods]]\nname = "fp32"\nbits = 8\n', "runs at 32 bits"),
    ('[[archs]]\nname = "gin"\nhiden = 3\n', "has no option 'hiden'"),
    ('[[datasets]]\nname = "cora"\nlabel = "synthetic"\n', "two [[datasets]] entries are called 'synthetic'"),
    ('[[methods]]\nname = "qat"\nbits = 4\n', "entries are called 'qat' at the same bit width"),
    ('seedz = [1]\n', "unknown key 'seedz'"),
])
def test_validation_errors_are_one_line(tmp_path, patch, message):
    text = BASE.replace('name = "t"', 'name = "t"\n') + "\n" + patch
    if patch.startswith("seedz"):
        text = patch + BASE
    with pytest.raises(DQBenchError) as exc:
        load_suite(_suite(tmp_path, text))
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_method_may_take_other_settings_at_another_bit_width(tmp_path):
    text = BASE.replace('bits = [8, 4]', 'bits = 8\ntrain = { lr = 0.005 }') + \
        '[[methods]]\nname = "qat"\nbits = 4\ntrain = { lr = 0.05 }\n'
    trials = expand(load_suite(_suite(tmp_path, text)))
    lrs = {(t.method.label, t.bits): t.train["lr"] for t in trials}
    assert lrs[("qat", 8)] == 0.005 and lrs[("qat", 4)] == 0.05
    assert len({t.trial_id for t in trials}) == len(trials) == 6


def test_wrong_types_and_missing_file(tmp_path):
    with pytest.raises(DQBenchError, match="train.epochs must be int"):
        load_suite(_suite(tmp_path, BASE.replace("epochs = 3", 'epochs = "3"')))
    with pytest.raises(DQBenchError, match="not valid TOML"):
        load_suite(_suite(tmp_path, "name = \n"))
    with pytest.raises(DQBenchError, match="not found"):
        load_suite(tmp_path / "nope.toml")


@pytest.mark.parametrize("old, new, message", [
    ("epochs = 3", "epochs = 0", "train.epochs = 0 is out of range; give a value >= 1"),
    ("epochs = 3", "epochs = 3\nbatch_size = 0", "train.batch_size = 0 is out of range"),
    ("epochs = 3", "epochs = 3\nlr = 0.0", "train.lr = 0.0 is out of range; give a value > 0.0"),
    ("epochs = 3", "epochs = 3\npatience = -1", "train.patience = -1 is out of range"),
    ("bits = [8, 4]", "bits = [8, 4]\ntrain = { weight_decay = -1e-4 }", "qat.train.weight_decay = -0.0001"),
    ("", "[latency]\nrounds = 0", "latency.rounds = 0 is out of range"),
    ("", "[latency]\nthreads = [2, 0]", "latency.threads must be"),
    ("", '[latency]\ncontrols = ["fp16"]', "unknown control 'fp16'"),
])
def test_settings_out_of_range_are_refused_before_any_trial(tmp_path, old, new, message):
    text = BASE.replace(old, new, 1) if old else 'kind = "latency"\n' + BASE + new  # latency: a table at the end
    with pytest.raises(DQBenchError) as exc:
        load_suite(_suite(tmp_path, text))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_shipped_suites_validate():
    for name in ("smoke", "quickstart"):
        suite = load_suite(name)
        assert expand(suite)
