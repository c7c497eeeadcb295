"""Build hook for the compiled integer-kernel core (see dqbench/engine/build.py); metadata lives in pyproject.toml."""

from setuptools import setup

try:
    from dqbench_build import ext_modules, build_ext  # noqa: F401  (filled in by the engine)
except ImportError:  # engine core not wired yet
    ext_modules, build_ext = [], None

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext} if build_ext else {})
