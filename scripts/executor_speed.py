"""Wall time of one short suite run three ways on this machine, one after another, each into a fresh directory:
in one process (``--jobs 1``), in local worker processes (``--jobs N``, one thread each) and as Ray tasks
(``--executor ray``, a local Ray instance started by the run, one CPU per trial); then whether the three hold the
same records. Writes a text table (default reports/executors/speed.txt).

    python scripts/executor_speed.py [--suite quickstart] [--filter --dataset cora --seed 0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(suite: str, out: Path, filters: list[str], extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "dqbench.cli", "run", suite, "--out", str(out), "--no-progress", "--no-report",
           *filters, *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quickstart")
    parser.add_argument("--filter", nargs=argparse.REMAINDER, default=["--dataset", "cora", "--seed", "0"],
                        help="trial filters, last on the line (default --dataset cora --seed 0)")
    parser.add_argument("--out", default=str(REPO / "reports" / "executors" / "speed.txt"))
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0))
    ways = [("one process (--jobs 1)", ["--jobs", "1"]),
            (f"local workers (--jobs {cpus}, 1 thread each)", ["--jobs", str(cpus), "--threads", "1"]),
            ("Ray tasks (--executor ray, local instance, 1 CPU each)", ["--executor", "ray"])]
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for i, (label, extra) in enumerate(ways):
            rows.append((label, run(args.suite, Path(tmp) / str(i), args.filter, extra)))
        same = [subprocess.run([sys.executable, "-m", "dqbench.cli", "compare", str(Path(tmp) / "0"),
                                str(Path(tmp) / str(i)), "--identical"], cwd=REPO, capture_output=True,
                               text=True).stdout.splitlines()[1] for i in (1, 2)]
    serial = rows[0][1]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    lines = [f"dqbench run {args.suite} {' '.join(args.filter)} on {cpus} CPUs, {time.strftime('%Y-%m-%d')}, "
             f"commit {commit.stdout.strip()}", "", f"{'how':58} {'wall s':>8} {'vs one process':>15}"]
    lines += [f"{label:58} {secs:8.1f} {serial / secs:14.2f}x" for label, secs in rows]
    lines += ["", f"records against one process: local workers {same[0]}; Ray {same[1]}"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
