from dqbench.registry import DATASETS

EXPECTED = {"cora", "citeseer", "reddit-binary", "mutag", "proteins", "imdb-binary", "enzymes", "ogbg-molhiv",
            "synthetic", "synthetic-graphs"}


def test_all_registered_with_docstrings():
    assert EXPECTED <= set(DATASETS.names())
    for name in EXPECTED:
        assert DATASETS.get(name).__doc__
