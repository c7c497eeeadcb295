"""The environment a run was measured in: CPU, flags, threads, package versions, git revision, plugins."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path

from dqbench import process_settings

PACKAGES = ("dqbench", "torch", "torch_geometric", "ogb", "numpy", "pandas", "tabulate", "pytest-benchmark")
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "amx_int8", "neon", "asimd")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                present = set(line.split(":", 1)[1].split())
                return [f for f in CPU_FLAGS if f in present]
    except OSError:
        pass
    return []


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    if out["dqbench"] == "not installed":
        from dqbench import __version__

        out["dqbench"] = __version__
    return out


CODE_PATHS = ("dqbench", "suites", "pyproject.toml")  # what decides a record; reports/ changing is not "dirty"


def git_revision() -> str:
    """HEAD's commit, with "+dirty" when the code or suites differ from it (not when only reports do)."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
                               cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def plugins() -> list[str]:
    return sorted({f"{ep.name}={ep.value} ({ep.dist.name if ep.dist else '?'})"
                   for ep in entry_points(group="dqbench.plugins")})


def machine_id(threads: int | None = None) -> str:
    """Identity for latency comparisons: CPU model, its relevant flags and the thread count."""
    key = f"{cpu_model()}|{','.join(cpu_flags())}|{threads if threads is not None else os.cpu_count()}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def environment() -> dict:
    import torch

    return {
        "cpu": cpu_model(), "cpu_flags": cpu_flags(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "platform": platform.platform(), "packages": package_versions(), "git": git_revision(),
        "plugins": plugins(), "machine_id": machine_id(torch.get_num_threads()),
        "process_settings": process_settings.current(),
    }
