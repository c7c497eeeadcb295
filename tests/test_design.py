"""The floors of docs/design.md: each package imports only packages on lower floors (function-level imports
included); the bottom floor imports nothing of dqbench; report and compare never import torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dqbench"
FLOORS = [  # bottom first; a package may import its own modules and any package on a lower floor
    {"__init__", "errors", "bits", "process_settings", "kernels"},
    {"registry"},
    {"quant", "datasets"},
    {"archs", "methods"},
    {"models"},
    {"engine"},
    {"latency"},
    {"run"},
    {"report", "compare", "diagnostics", "deploy"},
    {"cli"},
]
FLOOR = {name: i for i, names in enumerate(FLOORS) for name in names}


def imports(path: Path) -> set[str]:
    """The dqbench top-level packages or modules ``path`` imports, anywhere in it."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "dqbench":
                out |= {a.name for a in node.names}
            elif node.module.startswith("dqbench."):
                out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("dqbench.")}
    return {"__init__" if name == "__version__" else name for name in out}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.relative_to(PACKAGE).with_suffix("").parts[0]


def test_every_package_has_a_floor():
    assert {own for _, own in modules()} <= set(FLOOR)


def test_imports_only_go_down():
    wrong = [f"{path.relative_to(PACKAGE)} imports dqbench.{dst} (floor {FLOOR[dst]} >= {FLOOR[own]})"
             for path, own in modules() for dst in imports(path) - {own} if FLOOR.get(dst, 99) >= FLOOR[own]]
    assert not wrong, wrong


def test_bottom_floor_imports_nothing_of_dqbench():
    wrong = [str(path.relative_to(PACKAGE)) for path, own in modules()
             if FLOOR[own] == 0 and own != "__init__" and imports(path) - {own}]
    assert not wrong, wrong


def test_report_and_compare_never_import_torch():
    names = sorted(f"dqbench.{'.'.join(p.relative_to(PACKAGE).with_suffix('').parts)}"
                   for pkg in ("report", "compare") for p in (PACKAGE / pkg).glob("*.py"))
    code = "import sys\n" + "".join(f"import {n.removesuffix('.__init__')}\n" for n in names) + \
        "print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
