"""Fixtures that make run directories and baselines for the compare tests."""

import pytest
from compare_builders import write_run


@pytest.fixture
def runs(tmp_path):
    """Factory: runs(name, records, **write_run options) -> run dir under tmp_path."""
    return lambda name, records, **kw: write_run(tmp_path / name, records, **kw)


@pytest.fixture
def baseline(tmp_path, runs):
    """Factory: baseline(records, **write_run options) -> baseline dir made by 'dqbench baseline update'."""
    from dqbench.cli import main

    def make(records, name="bl", **kw):
        run = runs(f"run-for-{name}-{kw.get('machine_id', 'm1')}", records, **kw)
        assert main(["baseline", "update", str(run), "--baseline", str(tmp_path / name)]) == 0
        return tmp_path / name

    return make
