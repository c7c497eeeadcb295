"""Run vs baseline for CI: pair trials by configuration (seeds/folds pooled), mark each pair, exit 1 on a regression.

Marks: ``worse`` / ``better`` (beyond tolerance and significant, see ``dqbench.compare.stats``), ``newly failing``,
``fixed``, ``missing`` (in the baseline, not in the run), ``new``, ``not comparable`` (latency across machine ids
or dqbench/torch/PyG versions; anything across dqbench or method versions), ``same``.
Regressions (exit 1): worse, newly failing, missing. Bad input: ``DQBenchError`` (exit 2). No torch import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dqbench.compare.identical import identical_report
from dqbench.compare.pairing import REGRESSIONS, UNKNOWN, Row, compare_snapshots
from dqbench.compare.render import markdown, write
from dqbench.compare.settings import load_settings
from dqbench.compare.snapshot import Snapshot, load_snapshot, select_baseline, suite_of, write_baseline
from dqbench.errors import DQBenchError

WARN_PACKAGES = ("torch", "torch_geometric", "ogb")
REFERENCE_CONTROL = "pyg"

__all__ = ["Comparison", "compare_run", "main_baseline", "main_compare", "Row"]


@dataclass
class Comparison:
    rows: list[Row]
    text: str
    regressions: int


def compare_run(run_dir: str | Path, baseline_dir: str | Path) -> Comparison:
    run = load_snapshot(run_dir, "run")
    base, same_machine = select_baseline(baseline_dir, run)
    settings, source = load_settings(run)
    rows = compare_snapshots(base, run, settings)
    context = [
        f"run `{run.path}`: machine `{run.machine_id}`, {_versions(run)}",
        f"baseline `{base.path}`: machine `{base.machine_id}`, {_versions(base)}",
        f"tolerances: accuracy ±{settings['accuracy_tolerance']:g} (absolute score), latency "
        f"±{100 * settings['latency_tolerance']:g}% (median), alpha {settings['alpha']:g} — from {source}",
    ]
    warnings = _warnings(base, run, same_machine)
    warnings += _noise_warnings(rows)
    blind = sum(r.mark == "not comparable" for r in rows)
    if blind:
        warnings.append(f"{blind} of {len(rows)} comparisons are not comparable: nothing is checked for them")
    text = markdown(rows, f"dqbench compare — suite {suite_of(run)}", context, warnings)
    return Comparison(rows, text, sum(r.mark in REGRESSIONS for r in rows))


def _versions(snap: Snapshot) -> str:
    return ", ".join(f"{p} {snap.package(p)}" for p in ("dqbench", "torch", "torch_geometric"))


def _warnings(base: Snapshot, run: Snapshot, same_machine: bool) -> list[str]:
    out = []
    if not same_machine:
        out.append(f"no baseline for machine `{run.machine_id}`: accuracy compared with machine "
                   f"`{base.machine_id}`'s baseline, latency not comparable; store one with 'dqbench baseline update'")
    if UNKNOWN & {base.package("dqbench"), run.package("dqbench")}:
        out.append(f"dqbench version unknown (baseline {base.package('dqbench')}, now {run.package('dqbench')}): "
                   f"compared as if equal")
    for pkg in WARN_PACKAGES:
        if base.package(pkg) != run.package(pkg):
            out.append(f"{pkg} {base.package(pkg)} in baseline, {run.package(pkg)} now: accuracy compared anyway")
    return out


def _noise_warnings(rows: list[Row]) -> list[str]:
    """PyG reference controls run code that cannot have changed (same torch/PyG): if they moved, the machine did."""
    moved = [r for r in rows if r.kind == "latency" and r.metric.startswith(REFERENCE_CONTROL)
             and r.mark in ("worse", "better")]
    if not moved:
        return []
    worst = max(moved, key=lambda r: abs(r.verdict.effect))
    return [f"{len(moved)} PyG reference control(s) moved although torch/PyG are unchanged (e.g. {worst.name} "
            f"{worst.metric} {100 * worst.verdict.effect:+.0f}%): the machine's speed changed between runs, so "
            f"latency marks may be noise; re-run on a quiet machine before trusting them"]


def main_compare(args) -> int:
    """``dqbench compare RUN --baseline DIR [--out DIR]``: print markdown, write compare.md/.csv; 1 on regression.
    ``dqbench compare RUN OTHER --identical``: whether both hold the same records (1 if any differ)."""
    if args.identical:
        if not args.other or args.baseline:
            raise DQBenchError("--identical compares two run directories: dqbench compare RUN OTHER --identical")
        lines, differ = identical_report(args.run, args.other)
        print("\n".join(lines))
        return 1 if differ else 0
    if args.other or not args.baseline:
        raise DQBenchError("give --baseline DIR (a regression report) or a second run directory and --identical")
    result = compare_run(args.run, args.baseline)
    print(result.text)
    path = write(result.rows, result.text, args.out or args.run)
    print(f"compare: {path}")
    return 1 if result.regressions else 0


def main_baseline(args) -> int:
    """``dqbench baseline update RUN [--baseline DIR]``: store the run's raw records for its machine id."""
    run = load_snapshot(args.run, "run")
    if not args.baseline and not suite_of(run):
        raise DQBenchError(f"{run.path} names no suite; pass --baseline DIR")
    target = write_baseline(run, args.baseline or Path("baselines") / suite_of(run))
    kinds = {k: sum(r.get("kind", "accuracy") == k for r in run.records) for k in ("accuracy", "latency")}
    failed = sum(r["status"] == "failed" for r in run.records)
    print(f"baseline: {len(run.records)} records ({kinds['accuracy']} accuracy, {kinds['latency']} latency"
          f"{f', {failed} failed' if failed else ''}) from {run.path} -> {target}")
    return 0
