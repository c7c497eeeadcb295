import textwrap

import pytest

from dqbench.errors import DQBenchError
from dqbench.run.suite import check_filters, expand, load_suite

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


def _refused(tmp_path, text) -> str:
    with pytest.raises(DQBenchError) as exc:
        load_suite(_suite(tmp_path, text))
    assert "\n" not in str(exc.value) and str(exc.value).startswith(str(tmp_path / "s.toml"))
    return str(exc.value)


@pytest.mark.parametrize("old, new, message", [
    ('name = "gcn"', 'name = "gcn"\nhidden = 0', "[[archs]] 'gcn': hidden must be a positive integer, got 0"),
    ('name = "gcn"', 'name = "gcn"\nhidden = 2.5', "hidden must be a positive integer, got 2.5"),
    ('name = "gcn"', 'name = "gcn"\nhidden = true', "hidden must be a positive integer, got True"),
    ('name = "gcn"', 'name = "gcn"\nlayers = -1', "layers must be a positive integer, got -1"),
    ('name = "gcn"', 'name = "gin"\nlayers = 0', "[[archs]] 'gin': layers must be a positive integer, got 0"),
    ('name = "gcn"', 'name = "gat"\nheads = 0', "[[archs]] 'gat': heads must be a positive integer, got 0"),
    ('name = "gcn"', 'name = "gat"\nhidden = 10\nheads = 4', "hidden (10) must be a multiple of heads (4)"),
    ('num_nodes = 50', "num_nodes = 0", "[[datasets]] 'synthetic': dataset 'synthetic': num_nodes must be an integer"),
    ('num_nodes = 50', "num_nodes = 50\nnum_features = 0", "num_features must be an integer >= 1, not 0"),
    ('num_nodes = 50', "num_nodes = 50\nnum_classes = 1", "num_classes must be an integer >= 2, not 1"),
    ('num_nodes = 50', "num_nodes = 50\navg_degree = 0", "avg_degree must be a finite number > 0, not 0"),
    ('num_nodes = 50', "num_nodes = 50\navg_degree = 0.01", "num_nodes * avg_degree must be at least 2"),
    ('num_nodes = 50', "num_nodes = 50\nexponent = 1", "exponent must be a finite number > 1, not 1"),
    ('num_nodes = 50', "num_nodes = 50\ngraph_seed = -3", "graph_seed must be an integer >= 0, not -3"),
    ('name = "synthetic"\nnum_nodes = 50', 'name = "synthetic-graphs"\nnum_graphs = 0',
     "dataset 'synthetic-graphs': num_graphs must be an integer >= 6, not 0"),
    ('name = "synthetic"\nnum_nodes = 50', 'name = "synthetic-graphs"\nnum_folds = 1',
     "num_folds must be an integer >= 3, not 1"),
    ('name = "synthetic"\nnum_nodes = 50', 'name = "synthetic-graphs"\nmin_nodes = 20\nmax_nodes = 10',
     "max_nodes must be an integer >= 20, not 10"),
    ('name = "synthetic"\nnum_nodes = 50', 'name = "imdb-binary"\ndegree_cap = 0', "degree_cap must be a positive"),
])
def test_sizes_are_refused_as_the_suite_loads(tmp_path, old, new, message):
    assert message in _refused(tmp_path, BASE.replace(old, new, 1))


@pytest.mark.parametrize("new, message", [
    ("dropout = 1.0", "dropout must be a number in [0, 1), got 1.0"),
    ("dropout = -0.5", "dropout must be a number in [0, 1), got -0.5"),
    ("conv_dropout = 1.2", "conv_dropout must be a number in [0, 1), got 1.2"),
    ("conv_dropout = -0.1", "conv_dropout must be a number in [0, 1), got -0.1"),
    ('pool = "max"', "pool must be 'sum' or 'mean', got 'max'"),
])
def test_dropout_rates_outside_0_1_are_refused(tmp_path, new, message):
    assert message in _refused(tmp_path, BASE.replace('name = "gcn"', f'name = "gcn"\n{new}'))


def test_gat_attention_dropout_is_refused(tmp_path):
    text = BASE.replace('name = "gcn"', 'name = "gat"\nattn_dropout = 1.0')
    assert "[[archs]] 'gat': attn_dropout must be a number in [0, 1), got 1.0" in _refused(tmp_path, text)


@pytest.mark.parametrize("old, new, message", [
    ("epochs = 3", "epochs = 3\nlr = nan", "train.lr = nan is not a finite number"),
    ("epochs = 3", "epochs = 3\nweight_decay = inf", "train.weight_decay = inf is not a finite number"),
    ("num_nodes = 50", "num_nodes = 50\navg_degree = inf", "datasets.synthetic.avg_degree = inf is not a finite"),
    ('name = "gcn"', 'name = "gcn"\ndropout = nan', "archs.gcn.dropout = nan is not a finite number"),
    ("bits = [8, 4]", "bits = [8, 4]\nmomentum = nan", "methods.qat.momentum = nan is not a finite number"),
    ("bits = [8, 4]", "bits = [8, 4]\ntrain = { lr = -inf }", "methods.qat.train.lr = -inf is not a finite"),
    ("epochs = 3", "epochs = 3\n[compare]\nalpha = nan", "compare.alpha = nan is not a finite number"),
    ("seeds = [0, 1]", "seeds = [0, nan]", "seeds[1] = nan is not a finite number"),
])
def test_nan_and_infinity_are_refused_anywhere(tmp_path, old, new, message):
    assert message in _refused(tmp_path, BASE.replace(old, new, 1))


@pytest.mark.parametrize("rule, message", [
    ('dataset = "cora"', "[[exclude]] entry 1: dataset 'cora' is not in the suite; choose from synthetic"),
    ('arch = ["gcn", "gat"]', "arch 'gat' is not in the suite; choose from gcn"),
    ('method = "ptq"', "method 'ptq' is not in the suite; choose from fp32, qat"),
    ('method = "qat"\nbits = 2', "bits 2 is not in the suite; choose from 4, 8, 32"),
    ('bits = "4"', "bits '4' is not in the suite"),
    ("method = []", "method = [] matches nothing"),
    ("", "[[exclude]] entry 1 is empty, so it would exclude every trial"),
])
def test_exclude_naming_nothing_in_the_suite_is_refused(tmp_path, rule, message):
    assert message in _refused(tmp_path, BASE + f"\n[[exclude]]\n{rule}\n")


def test_exclude_may_name_labels_and_fp32_bits(tmp_path):
    text = BASE.replace('name = "gcn"', 'name = "gcn"\nlabel = "g"') + \
        '\n[[exclude]]\narch = "g"\nmethod = "fp32"\nbits = 32\n'
    assert len(expand(load_suite(_suite(tmp_path, text)))) == 2 * 2


GRAPHS = BASE.replace('name = "synthetic"\nnum_nodes = 50', 'name = "synthetic-graphs"\nnum_graphs = 12')


@pytest.mark.parametrize("folds, message", [
    ("[5]", "folds = [5] goes beyond dataset 'synthetic-graphs', which has 3 folds (0..2)"),
    ("[0, 3]", "folds = [0, 3] goes beyond"),
    ("4", "folds = 4 goes beyond dataset 'synthetic-graphs', which has 3 folds"),
])
def test_folds_beyond_a_datasets_folds_are_refused_once_counted(tmp_path, folds, message):
    suite = load_suite(_suite(tmp_path, f"folds = {folds}\n" + GRAPHS))  # validate cannot count folds: no data
    assert expand(suite)
    with pytest.raises(DQBenchError) as exc:
        expand(suite, {"synthetic-graphs": 3})
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert expand(suite, {"synthetic-graphs": 10})
    single = load_suite(_suite(tmp_path, f"folds = {folds}\n" + BASE))  # a single split runs fold 0
    assert {t.fold for t in expand(single, {"synthetic": 1})} == {0}


@pytest.mark.parametrize("folds", ["[]", "[1, 1]", "[true]", "true", "0", "-1", '"some"'])
def test_malformed_folds_are_refused(tmp_path, folds):
    assert "folds must be \"all\", a count, or a list of distinct fold indices" in _refused(
        tmp_path, f"folds = {folds}\n" + BASE)


@pytest.mark.parametrize("name", ["5", "true", '""', "[\"a\"]", "{ a = 1 }"])
def test_suite_name_must_be_a_string(tmp_path, name):
    assert "name must be a non-empty string" in _refused(tmp_path, BASE.replace('name = "t"', f"name = {name}"))


def test_entry_names_and_labels_must_be_strings(tmp_path):
    assert "'name' must be a string, got ['gcn']" in _refused(tmp_path, BASE.replace('"gcn"', '["gcn"]'))
    text = BASE.replace('name = "gcn"', 'name = "gcn"\nlabel = 3')
    assert "[[archs]] 'gcn': 'label' must be a non-empty string, got 3" in _refused(tmp_path, text)


@pytest.mark.parametrize("old, new, message", [
    ("seeds = [0, 1]", "seeds = [-1, 0]", "seeds: seed -1 is out of range; seeds are whole numbers from 0"),
    ("seeds = [0, 1]", "seeds = -2", "seeds must be a non-empty list of integers"),
    ("seeds = [0, 1]", "seeds = [0, 0]", "seeds lists a seed twice"),
    ("num_nodes = 50", "num_nodes = 50\nseeds = [3, -4]", "datasets.synthetic.seeds: seed -4 is out of range"),
])
def test_negative_seeds_are_refused(tmp_path, old, new, message):
    assert message in _refused(tmp_path, BASE.replace(old, new, 1))


def test_select_is_checked_in_every_train_table(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\n[[datasets]]\nname = "synthetic"\n[[archs]]\nname = "gcn"\n'
                    '[[methods]]\nname = "fp32"\ntrain = { select = "bogus" }\n')
    with pytest.raises(DQBenchError, match="select must be one of"):
        load_suite(path)


@pytest.mark.parametrize("role_bits, message", [
    ("{ weights = 4 }", "method 'qat' at 8 bits: role_bits key 'weights': unknown role"),
    ("{ weight = 9 }", "role_bits 'weight' = 9: use an integer from 2 to 8"),
    ("{ aggregate = 1 }", "role_bits 'aggregate' = 1: use an integer from 2 to 8"),
    ('{ "convs.5:aggregate" = 4 }', "method 'qat': role_bits key 'convs.5:aggregate': gcn has no such quantization"),
    ("4", "role_bits must be a table"),
])
def test_mixed_precision_entries_are_refused_before_any_trial(tmp_path, role_bits, message):
    assert message in _refused(tmp_path, BASE.replace("bits = [8, 4]", f"bits = [8, 4]\nrole_bits = {role_bits}"))


def test_mixed_precision_entries_load(tmp_path):
    text = BASE.replace("bits = [8, 4]", 'bits = [8, 4]\nrole_bits = { weight = 4, "convs.1:aggregate" = 2 }')
    trials = expand(load_suite(_suite(tmp_path, text)))
    qat = [t for t in trials if t.method.name == "qat"]
    assert qat and all(t.method.kwargs["role_bits"] == {"weight": 4, "convs.1:aggregate": 2} for t in qat)


def test_a_sweep_makes_one_labelled_entry_per_value(tmp_path):
    text = BASE.replace('name = "qat"\nbits = [8, 4]', 'name = "qat"\nbits = [8]\nsweep = { momentum = [0.01, 0.1] }')
    text += '\n[[methods]]\nname = "degree_quant"\nbits = [8]\nsweep = { role_bits = [{ weight = 4 }, ' \
            '{ "convs.1:aggregate" = 6, weight = 2 }] }\n'
    trials = expand(load_suite(_suite(tmp_path, text)))
    labels = sorted({t.method.label for t in trials})
    assert labels == ["degree_quant_role_bitsconvs.1.aggregate6-weight2", "degree_quant_role_bitsweight4", "fp32",
                      "qat_momentum0.01", "qat_momentum0.1"]
    assert {t.method.kwargs.get("momentum") for t in trials if t.method.name == "qat"} == {0.01, 0.1}


@pytest.mark.parametrize("sweep, message", [
    ("sweep = { momentum = [] }", "sweep must be a table of option = [values, ...]"),
    ("sweep = [1, 2]", "sweep must be a table"),
    ("momentum = 0.1\nsweep = { momentum = [0.01] }", "'momentum' cannot be swept here"),
    ("sweep = { bits = [4] }", "'bits' cannot be swept here"),
    ("sweep = { momentum = [2.0] }", "momentum must be a number in (0, 1]"),
])
def test_bad_sweeps_are_refused(tmp_path, sweep, message):
    assert message in _refused(tmp_path, BASE.replace("bits = [8, 4]", f"bits = [8, 4]\n{sweep}"))
