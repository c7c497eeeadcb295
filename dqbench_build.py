"""Build definition of the compiled integer-kernel core ``dqbench.kernels._core`` (imported by setup.py).

One pybind11 extension, no libtorch: kernels take raw pointers. Compiled for baseline x86-64 (or the host
architecture elsewhere); AVX2 / AVX-512 VNNI code is selected at run time, so the wheel runs on any CPU.
``-ffp-contract=off`` keeps every float op of the requantization epilogue a separate IEEE op (bit-exactness).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from setuptools import Extension
from setuptools.command.build_ext import build_ext as _build_ext

HERE = Path(__file__).resolve().parent
CSRC = Path("dqbench") / "kernels" / "csrc"
SOURCES = [str(CSRC / "kernels.cpp")]
HEADERS = sorted(str(p.relative_to(HERE)) for p in (HERE / CSRC).glob("*.h"))  # rebuild when one changes
CXX_FLAGS = ["-O3", "-g0", "-std=c++17", "-fopenmp", "-ffp-contract=off", "-fno-fast-math", "-fvisibility=hidden"]
LINK_FLAGS = ["-fopenmp"]


def _pybind11_include() -> str:
    try:
        import pybind11
    except ImportError:  # pragma: no cover - declared in build-system.requires
        return ""
    return pybind11.get_include()


def _source_hash() -> str:
    """dqbench.kernels.build.source_hash, loaded by path (importing the package would import torch)."""
    spec = importlib.util.spec_from_file_location("_dqbench_engine_build", HERE / "dqbench" / "kernels" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.source_hash(HERE / CSRC)


def make_extension() -> Extension:
    return Extension(
        "dqbench.kernels._core",
        sources=SOURCES,
        depends=HEADERS,
        include_dirs=[inc for inc in (_pybind11_include(), str(CSRC)) if inc],
        define_macros=[("DQ_SOURCE_HASH", f'"{_source_hash()}"')],  # the engine rebuilds if csrc/ changes later
        extra_compile_args=CXX_FLAGS if sys.platform != "win32" else ["/O2", "/openmp", "/std:c++17"],
        extra_link_args=LINK_FLAGS if sys.platform != "win32" else [],
        language="c++",
    )


class build_ext(_build_ext):
    """Build the kernels; if no compiler is available the package still installs (PyTorch fallback engine)."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure -> pure-PyTorch engine
            print(f"warning: dqbench integer kernels not built ({exc}); the engine will use its PyTorch path",
                  file=sys.stderr)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"warning: building {ext.name} failed ({exc}); the engine will use its PyTorch path",
                  file=sys.stderr)


ext_modules = [make_extension()]
