"""Build hook for the compiled integer-kernel core (see dqbench_build.py); metadata lives in pyproject.toml."""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent))  # build isolation does not put the project root on sys.path

from dqbench_build import build_ext, ext_modules  # noqa: E402

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext}, py_modules=[])
