"""The bottom floor: dqbench's compiled C++ core (``csrc/``, one pybind11 module with raw-pointer kernels, no
libtorch ABI) and its loader. Imports nothing else of dqbench; ``quant``, ``archs`` and ``engine`` call it.

``core()`` is the module, or None when it is neither installed nor buildable here (then every caller runs its
bit-identical PyTorch path); ``DQBENCH_ENGINE=torch`` makes every caller take that path.
"""

from __future__ import annotations

import os
from functools import lru_cache

_CHOSEN: list = []  # a core picked by use_core (A/B tools), else the one load_kernels finds


def core():
    """The compiled core module, or None."""
    return _CHOSEN[0] if _CHOSEN else _found()


@lru_cache(maxsize=1)
def _found():
    from dqbench.kernels.build import load_kernels

    return load_kernels()


def use_core(module) -> None:
    """Make ``module`` (for example ``build.import_core(path)`` of another build) the core of this process; call it
    before anything runs a kernel (``scripts/kernel_ab.py`` times two builds this way)."""
    _CHOSEN[:] = [module]


def engine_env() -> str:
    """The ``DQBENCH_ENGINE`` setting, normalised ("" when unset); "torch" forces every PyTorch path."""
    return os.environ.get("DQBENCH_ENGINE", "").strip().lower()


def enabled():
    """The core, unless it is missing or ``DQBENCH_ENGINE=torch`` switches it off."""
    return None if engine_env() == "torch" else core()


def ptr(t) -> int:
    """A tensor's data address for the kernels (0 for None)."""
    return 0 if t is None else t.data_ptr()
