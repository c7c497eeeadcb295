import pytest

from dqbench.errors import DQBenchError
from dqbench.registry import ARCHS, DATASETS, METHODS, Registry


def test_register_get_and_duplicate():
    reg = Registry("widget")

    @reg.register("alpha")
    def alpha(x=1):
        """An alpha widget."""
        return x

    assert reg.get("alpha") is alpha
    assert reg.entry("alpha").source == "built-in"
    with pytest.raises(DQBenchError, match="duplicate widget name 'alpha'"):
        reg.register("alpha", lambda: None)


def test_unknown_name_suggests_closest_and_lists_valid():
    reg = Registry("widget")
    reg.register("gcn", lambda: None)
    reg.register("gin", lambda: None)
    with pytest.raises(DQBenchError) as exc:
        reg.get("gcm")
    msg = str(exc.value)
    assert "did you mean 'gcn'" in msg and "valid: gcn, gin" in msg and "\n" not in msg


def test_check_kwargs_rejects_unknown_option():
    reg = Registry("widget")
    reg.register("w", lambda *, hidden=3, layers=2: None)
    reg.check_kwargs("w", {"hidden": 4})
    with pytest.raises(DQBenchError, match="has no option 'hiden'; did you mean 'hidden'"):
        reg.check_kwargs("w", {"hiden": 4})


def test_check_kwargs_rejects_a_non_boolean_for_a_boolean_option():
    reg = Registry("widget")
    reg.register("w", lambda *, masking=True, hidden=3: None)
    reg.check_kwargs("w", {"masking": False, "hidden": 4})
    for bad in ("no", 0, 1):
        with pytest.raises(DQBenchError, match="option 'masking' takes true or false"):
            reg.check_kwargs("w", {"masking": bad})


def test_builtins_are_registered():
    assert {"fp32", "qat", "degree_quant", "ptq"} <= set(METHODS.names())
    assert {"gcn", "gat", "gin"} <= set(ARCHS.names())
    assert {"cora", "citeseer", "reddit-binary", "mutag", "proteins", "imdb-binary", "enzymes", "ogbg-molhiv",
            "synthetic"} <= set(DATASETS.names())
    assert all(e.source == "built-in" for e in METHODS.entries() if e.name in ("fp32", "qat"))
