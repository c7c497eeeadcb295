"""Seeded stratified k-fold cross-validation with a validation fold (fold k tests, fold k+1 validates)."""

from __future__ import annotations

import numpy as np


def stratified_folds(labels, num_folds: int, seed: int) -> list[tuple[list[int], list[int], list[int]]]:
    """(train, val, test) index lists per fold; folds are disjoint, stratified, and cover every example."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels).reshape(-1)
    skf = StratifiedKFold(n_splits=num_folds, shuffle=True, random_state=seed % (2**32))
    tests = [test for _, test in skf.split(np.zeros(len(y)), y)]
    out = []
    for k in range(num_folds):
        test, val = tests[k], tests[(k + 1) % num_folds]
        train = np.setdiff1d(np.arange(len(y)), np.concatenate([test, val]))
        out.append((train.tolist(), sorted(val.tolist()), sorted(test.tolist())))
    return out
