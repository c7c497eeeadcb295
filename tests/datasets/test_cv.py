import numpy as np

from dqbench.datasets.cv import stratified_folds

LABELS = [0] * 60 + [1] * 30 + [2] * 10


def test_folds_disjoint_and_cover():
    folds = stratified_folds(LABELS, 10, seed=0)
    assert len(folds) == 10
    tests = []
    for train, val, test in folds:
        assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
        assert sorted(train + val + test) == list(range(100))
        tests += test
    assert sorted(tests) == list(range(100))  # every example is tested exactly once


def test_folds_stratified():
    y = np.array(LABELS)
    for train, val, test in stratified_folds(LABELS, 10, seed=3):
        assert np.bincount(y[test], minlength=3).tolist() == [6, 3, 1]
        assert np.bincount(y[val], minlength=3).tolist() == [6, 3, 1]


def test_folds_seeded():
    assert stratified_folds(LABELS, 10, seed=1) == stratified_folds(LABELS, 10, seed=1)
    assert stratified_folds(LABELS, 10, seed=1) != stratified_folds(LABELS, 10, seed=2)
