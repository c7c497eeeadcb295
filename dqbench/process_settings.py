"""Settings every dqbench process applies before torch does any work, and records in ``run.json``.

- ``THP_MEM_ALLOC_ENABLE=1``: PyTorch's CPU allocator aligns tensors of 2 MB and more to 2 MB and asks for
  transparent huge pages (``madvise``). Training allocates fresh large tensors every step (dropout masks over
  CiteSeer's 3327 x 3703 features, REDDIT-BINARY batches); with 4 KB pages each is paid in page faults
  (CiteSeer GIN FP32, one thread, 20 epochs: 2.83 million minor faults and 0.551 s per epoch, against 0.12
  million and 0.292 s: ``python scripts/allocation_benchmark.py``, reports/allocation/node_tasks.txt). Where the
  kernel has THP off it changes nothing.

A value already in the environment wins. The allocator reads it lazily (at its first large allocation), so
``apply()`` works from the CLI's first line or the start of ``run_suite``; worker processes inherit it.
The ops whose float sums change with the thread count are replaced in the models, each by a formulation with the
former one-thread values (``dqbench.archs.rows``, ``dqbench.archs.batch_norm``, ``dqbench.archs.linear``). MKL's
strict conditional numerical reproducibility (``MKL_CBWR=AUTO,STRICT``) was tried and rejected: it makes GEMMs
thread-count independent but changes their one-thread results for some shapes (MUTAG GIN's), so records made
before it could no longer be reproduced.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULTS = {"THP_MEM_ALLOC_ENABLE": "1"}
THP_SYSFS = Path("/sys/kernel/mm/transparent_hugepage/enabled")
DETERMINISTIC_OPS = ("row gathers and scatter-sums in a fixed order (dqbench.archs.rows)",
                     "BatchNorm1d training statistics and gradients reduced in row order (dqbench.archs.batch_norm)",
                     "linear layers' weight gradients (a sum over the rows) on one thread (dqbench.archs.linear)")


def apply() -> dict:
    """Set the defaults the environment does not already give; returns :func:`current`."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    return current()


def kernel_thp() -> str:
    """The kernel's transparent-huge-page mode (the bracketed word of its sysfs file), or "unknown"."""
    try:
        text = THP_SYSFS.read_text()
    except OSError:
        return "unknown"
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else text.strip()


def current() -> dict:
    """What is in effect: the variable, the kernel's THP mode and the deterministic formulations."""
    return {**{key: os.environ.get(key) for key in DEFAULTS}, "kernel_thp": kernel_thp(),
            "deterministic_ops": list(DETERMINISTIC_OPS)}

