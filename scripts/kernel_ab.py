"""A/B of two builds of the compiled kernel core on the same integer program.

    DQBENCH_DATA_MIRROR=/path/to/mirror python scripts/kernel_ab.py OLD_COMMIT [ARCH] [THREADS]

builds OLD_COMMIT's kernels (a temporary git worktree, `setup.py build_ext --inplace`; needs pybind11 in this
environment), then runs the `latency` suite's ARCH (default gcn) on its 170k-node synthetic graph, lowered by the
current code, with the old and with the current core: one process per core (two pybind11 builds cannot share a
process), the two alternating three times, 4 timed rounds each after a warm-up. Prints the median total and stage
times over the 12 rounds of each, and whether both cores give the same logits. Only the kernels differ.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(so: str, arch: str, threads: int, rounds: int, out_path: str) -> None:
    """Run the program ``rounds`` times on the core at ``so`` (empty: the current one); print JSON timings."""
    import torch

    from dqbench.kernels import build, use_core

    if so:
        use_core(build.import_core(Path(so)))
    from dqbench.engine.lower import lower
    from dqbench.latency.harness import converted_for_trial, trial_data
    from dqbench.run.suite import expand, load_suite
    from dqbench.run.trial import DatasetCache

    suite = load_suite(ROOT / "suites" / "latency.toml")
    trial = next(t for t in expand(suite) if t.arch.name == arch and t.dataset.label == "synthetic-170k"
                 and t.threads == threads)
    dataset = DatasetCache(None).get(trial.dataset, trial.seed)
    data = trial_data(dataset)
    prog = lower(converted_for_trial({**trial.config(), **suite.latency, "threads": threads}, dataset, data))
    torch.set_num_threads(threads)
    graph, x = prog.prepare(data), data.x.float().contiguous()
    totals, stages = [], []
    with torch.no_grad():
        out = prog.execute(x, graph, threads=threads)
        torch.save(out, out_path)
        for _ in range(rounds):
            t0 = time.perf_counter()
            prog.execute(x, graph, threads=threads)
            totals.append(time.perf_counter() - t0)
            st = {}
            prog.execute(x, graph, timings=st, threads=threads)
            stages.append(st)
    from dqbench.engine import kernels as K

    core = K.kernels()
    print(json.dumps({"totals": totals, "stages": stages, "core": [f"{Path(core.__file__).parent.parent.parent.name}:"
                                                                   f"{getattr(core, 'SOURCE_HASH', '-')}"]}))


def build_old(commit: str, where: Path) -> str:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(where), commit], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=where, check=True,
                   capture_output=True)
    built = [*(where / "dqbench" / "engine").glob("_kernels*.so"), *(where / "dqbench" / "kernels").glob("_core*.so")]
    if not built:  # dqbench_build warns and falls back instead of failing, e.g. without pybind11 here
        sys.exit(print(f"ab.py: the kernels of {commit} did not build; they are built in this environment, so "
                       f"install their build requirement here: pip install pybind11==3.1.0", file=sys.stderr) or 2)
    return str(built[0])


def main(commit: str, arch: str = "gcn", threads: int = 1) -> None:
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        try:
            cores = {"old": build_old(commit, Path(tmp) / "old"), "current": ""}
            runs = {k: {"totals": [], "stages": [], "core": []} for k in cores}
            for _ in range(3):
                for name, so in cores.items():
                    res = subprocess.run([sys.executable, __file__, "--worker", so, arch, str(threads), "4",
                                          str(Path(tmp) / f"{name}.pt")], cwd=ROOT, check=True,
                                         capture_output=True, text=True)
                    got = json.loads(res.stdout.strip().splitlines()[-1])
                    for k in got:
                        runs[name][k] += got[k]
            same = torch.equal(torch.load(Path(tmp) / "old.pt"), torch.load(Path(tmp) / "current.pt"))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(Path(tmp) / "old")],
                           capture_output=True)
    print(f"{arch}, synthetic-170k, {threads} thread(s), kernels of {commit} against the current ones "
          f"(12 rounds each, 3 alternating processes); same logits: {same}")
    for name, r in runs.items():
        parts = ", ".join(f"{s} {statistics.median(t[s] for t in r['stages']) * 1e3:.1f}" for s in r["stages"][0])
        print(f"  {name:8s} total {statistics.median(r['totals']) * 1e3:.1f} ms ({parts} ms); core "
              f"{', '.join(sorted(set(r['core'])))}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
        sys.exit(0)
    if not 2 <= len(sys.argv) <= 4 or not all(a.isdigit() for a in sys.argv[3:4]):
        sys.exit(print("usage: python scripts/kernel_ab.py OLD_COMMIT [ARCH] [THREADS]", file=sys.stderr) or 2)
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "-q", sys.argv[1] + "^{commit}"],
                      capture_output=True).returncode:
        sys.exit(print(f"ab.py: {sys.argv[1]!r} is not a commit of this repository (see `git log`)",
                       file=sys.stderr) or 2)
    try:
        main(sys.argv[1], *(sys.argv[2:3] or ["gcn"]), *[int(a) for a in sys.argv[3:4]])
    except subprocess.CalledProcessError as e:
        err = (e.stderr or "").strip().splitlines()
        sys.exit(print(f"ab.py: {' '.join(map(str, e.cmd[:4]))} ... failed: {err[-1] if err else e}",
                       file=sys.stderr) or 2)
