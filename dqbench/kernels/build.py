"""Locate the compiled kernel core; if a source checkout has not been built, or its build is older than the
sources in ``csrc/`` (an editable install whose kernels were edited), compile it once with the system C++ compiler
into a cache directory (``DQBENCH_CACHE``/kernels). Returns None when no compiler is available: the engine then
uses its pure-PyTorch path. Imports only the standard library (``dqbench_build.py`` loads it to hash the sources).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

CSRC = Path(__file__).resolve().parent / "csrc"


def _cache_dir() -> Path:
    base = os.environ.get("DQBENCH_CACHE") or str(Path.home() / ".cache" / "dqbench")
    return Path(base) / "kernels"


def source_hash(csrc: Path = CSRC) -> str:
    """Hash of the kernel sources (and the Python version), compiled into the core as ``SOURCE_HASH``."""
    h = hashlib.sha1()
    for p in sorted(p for p in csrc.iterdir() if p.suffix in (".cpp", ".h")):  # what is packaged
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()[:12]


def import_core(path: Path):
    """Import the core built at ``path`` under a name of its own: extension modules are cached by name, so
    importing it as ``dqbench.kernels._core`` after the (stale) installed core would return that one."""
    own = "".join(c if c.isalnum() else "_" for c in path.name.split(".")[0])
    init = "_kernels" if path.name.startswith("_kernels") else "_core"  # cores built before the move were _kernels
    spec = importlib.util.spec_from_file_location(f"dqbench.kernels.{own}.{init}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compile(out: Path, source: str) -> None:
    import pybind11

    cxx = os.environ.get("CXX", "g++")
    flags = ["-O3", "-g0", "-std=c++17", "-fopenmp", "-ffp-contract=off", "-fno-fast-math", "-fvisibility=hidden",
             "-shared", "-fPIC"]
    includes = [f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}", f"-I{CSRC}"]
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = [cxx, *flags, *includes, f'-DDQ_SOURCE_HASH="{source}"', str(CSRC / "kernels.cpp"), "-o", str(tmp)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    os.replace(tmp, out)


def load_kernels():
    """The ``_core`` module, or None if it is neither installed nor buildable here. An installed core built from
    other sources than ``csrc/`` is replaced by a JIT build of the current sources (with a warning). Called once per
    process (``dqbench.kernels.core`` caches it): the sources are hashed once."""
    try:
        installed = importlib.import_module("dqbench.kernels._core")
    except ImportError:
        installed = None
    source = source_hash() if CSRC.is_dir() else None
    if source is None or (installed is not None and getattr(installed, "SOURCE_HASH", "") == source):
        return installed  # nothing to build from, or the installed build is current
    if installed is not None:
        warnings.warn("dqbench's compiled kernels are older than dqbench/kernels/csrc; using a build of the current "
                      "sources (rebuild with `pip install -e .`)", RuntimeWarning, stacklevel=2)
    if os.environ.get("DQBENCH_NO_JIT"):
        return installed
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    out = _cache_dir() / f"_core-{source}{suffix}"
    try:
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            _compile(out, source)
        return import_core(out)
    except (OSError, ImportError, subprocess.SubprocessError):
        return installed
