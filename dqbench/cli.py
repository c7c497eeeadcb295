"""Command line: run | export | infer | list | validate | report | compare | baseline | analyze | trace. Heavy
imports live in the handlers."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from dqbench.errors import DQBenchError
from dqbench.report.labels import MAX_REPLICATES

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage mistakes in one line with exit status 2."""

    def error(self, message):
        raise DQBenchError(f"{message}; see '{self.prog} --help'")


def _at_least_one(value: str) -> int:
    """argparse type of counts that must be 1 or more (threads, epochs)."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"give a whole number, 1 or more (got {value!r})")
    return n


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", help="dataset cache directory (env DQBENCH_CACHE)")
    p.add_argument("--data-mirror", help="local raw-data mirror copied into the cache (env DQBENCH_DATA_MIRROR)")


def _add_filters(p: argparse.ArgumentParser) -> None:
    from dqbench.run.suite import FILTER_KEYS

    for key, kind in FILTER_KEYS.items():
        p.add_argument(f"--{key}", action="append", type=kind, metavar=key.upper(),
                       help=f"only trials with this {key} (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dqbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="run (or resume) a suite and write its report")
    p.add_argument("suite", help="path to a suite .toml, or a name under suites/")
    p.add_argument("--out", help="run directory (default reports/runs/<suite name>); re-use it to resume")
    p.add_argument("--retry-failed", action="store_true", help="run failed trials again")
    p.add_argument("--reuse", action="append", metavar="RUN_DIR",
                   help="copy finished trials with the same id (same configuration) from this run directory instead "
                        "of running them again (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--threads", type=_at_least_one,
                   help="torch intra-op threads for accuracy trials (per worker with --jobs)")
    p.add_argument("--jobs", type=int, default=None,
                   help="run accuracy trials in this many worker processes (default: one per CPU, at most 8, each "
                        "with --threads threads, default 1; latency suites: 1); the records are the same as with one")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: this machine (--jobs); ray: each accuracy trial a Ray task on the cluster at --address "
                        "or RAY_ADDRESS, else on a local Ray instance (pip install 'dqbench[ray]')")
    p.add_argument("--address", help="with --executor ray: the Ray cluster to join (default RAY_ADDRESS, else a "
                                     "local instance)")
    p.add_argument("--cpus-per-trial", type=_at_least_one, default=1,
                   help="with --executor ray: CPUs (and torch threads) per trial (default 1)")
    p.add_argument("--retries", type=int, default=2,
                   help="with --executor ray: times a trial whose worker died is submitted again (default 2)")
    p.add_argument("--quick", action="store_true",
                   help="first seed and fold only, at most 2 epochs: proves a suite runs (CI), not a result")
    p.add_argument("--plan", action="store_true",
                   help="run nothing: print, per cell, how many of the selected trials --out already holds and "
                        "which seeds/folds are left")
    _add_data_options(p)
    _add_filters(p)

    p = sub.add_parser("export", help="write a recorded trial's model as one integer-program file (.dqb)")
    p.add_argument("run", help="run directory")
    p.add_argument("trial_id", help="the trial's id (its 'trial_id' in trials.jsonl)")
    p.add_argument("-o", "--out", required=True, help="the file to write (e.g. model.dqb)")
    p.add_argument("--backend", default="auto", help="engine path the file is checked on (auto, vnni, avx2, scalar, "
                                                      "torch); the file itself runs on any")
    _add_data_options(p)

    p = sub.add_parser("infer", help="run an exported model (.dqb) on a graph file and write its predictions")
    p.add_argument("model", help="a file written by `dqbench export`")
    p.add_argument("graph", help="a PyG Data saved with torch.save (.pt), or .npz with x, edge_index [, batch]")
    p.add_argument("-o", "--out", help="predictions .npz (logits, pred); default GRAPH.predictions.npz")
    p.add_argument("--backend", default="auto", help="engine path (default auto: the best this CPU runs)")
    p.add_argument("--threads", type=_at_least_one, help="threads for the integer kernels (default: torch's)")

    p = sub.add_parser("validate", help="check a suite file and list its trials without running them")
    p.add_argument("suite")
    p.add_argument("--trials", action="store_true", help="print every trial id")

    p = sub.add_parser("list", help="list registered datasets, archs, methods and backends")
    p.add_argument("what", nargs="?", choices=["datasets", "archs", "methods", "backends"])

    p = sub.add_parser("report", help="write tables and plots for a run directory")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", help="where to write the report (default: the run directory)")
    p.add_argument("--replicates", type=int, metavar="N", default=MAX_REPLICATES,
                   help="per seed/fold tables for each dataset × arch with at most N seeds/folds (default %(default)s)")

    p = sub.add_parser("compare", help="compare a run against a stored baseline (exit 1 on a regression), or two "
                                       "runs' records with --identical")
    p.add_argument("run")
    p.add_argument("other", nargs="?", help="with --identical: the run directory to compare RUN's records with")
    p.add_argument("--baseline", help="baseline directory (e.g. baselines/smoke)")
    p.add_argument("--identical", action="store_true",
                   help="exit 0 only if every trial in both runs has the same metrics (all but timings)")
    p.add_argument("--out", help="where to write compare.md / compare.csv (default: the run directory)")

    p = sub.add_parser("baseline", help="manage stored baselines")
    bsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    b = bsub.add_parser("update", help="store a run's records as the baseline for its suite and machine")
    b.add_argument("run")
    b.add_argument("--baseline", help="baseline directory (default baselines/<suite>)")

    p = sub.add_parser("trace", help="saturation per activation quantizer over one trial's first training steps")
    p.add_argument("suite", help="path to a suite .toml, or a name under suites/")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps to trace (default 20)")
    p.add_argument("--every", type=int, default=1, help="record the quantizers every N steps and at the last")
    p.add_argument("--threads", type=_at_least_one, help="torch intra-op threads (as `dqbench run --threads`: the same "
                                               "steps as the trial need the same thread count)")
    p.add_argument("--out", default="reports/runs/trace", help="where to write the CSVs (default reports/runs/trace)")
    _add_data_options(p)
    _add_filters(p)

    p = sub.add_parser("analyze", help="aggregation-output range against in-degree (the paper's motivation)")
    p.add_argument("--dataset", default="cora")
    p.add_argument("--arch", action="append", help="architectures (default gcn, gin, gat)")
    p.add_argument("--out", default="reports/runs/analysis", help="output directory (default reports/runs/analysis)")
    p.add_argument("--epochs", type=_at_least_one, default=100, help="FP32 training epochs before measuring")
    p.add_argument("--seed", type=int, default=0)
    _add_data_options(p)
    return parser


def _root(args):
    from dqbench.datasets.paths import resolve_root

    return resolve_root(cache=args.cache, mirror=args.data_mirror)


def _filters(args) -> dict:
    """The trial filters given (``--dataset/--arch/...``), for the commands that take them."""
    from dqbench.run.suite import FILTER_KEYS

    return {k: getattr(args, k) for k in FILTER_KEYS if getattr(args, k, None)}


def _set_threads(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_run(args) -> int:
    import signal

    from dqbench.report.document import write_report
    from dqbench.run.runner import default_jobs, run_suite
    from dqbench.run.suite import load_suite

    _set_threads(args)
    signal.signal(signal.SIGTERM, _interrupt)  # a preempted job stops like Ctrl-C: finished trials are kept
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C works even if the parent ignored SIGINT
    suite = load_suite(args.suite)
    out = Path(args.out or Path("reports") / "runs" / suite.name)
    if args.plan:
        return _print_plan(suite, out, args)
    command = args.invocation
    summary = run_suite(suite, out, _root(args), filters=args.filters, retry_failed=args.retry_failed,
                        progress=not args.no_progress, quick=args.quick, command=command,
                        reuse=args.reuse, jobs=default_jobs(suite, args.threads) if args.jobs is None else args.jobs,
                        threads=args.threads, executor=_executor(args))
    if not args.no_report and (summary.ran or summary.skipped or summary.reused):
        path = write_report(out, command=command)
        print(f"report: {path}")
    if summary.interrupted:
        saved = summary.skipped + summary.reused + summary.ran
        raise DQBenchError(f"interrupted: {saved} of {summary.total} trials are saved in {out}; run the same command "
                           "again to resume")
    reused = f"{summary.reused} reused, " if summary.reused else ""
    print(f"done: {summary.ran} ran, {reused}{summary.skipped} already done, {summary.failed} failed ({out})")
    return 1 if summary.failed else 0


def _executor(args):
    """The Ray executor for ``--executor ray`` (None: local); refuses options that belong to the other one."""
    ray_only = [f"--{k.replace('_', '-')}" for k, default in (("address", None), ("cpus_per_trial", 1),
                                                               ("retries", 2)) if getattr(args, k) != default]
    if args.executor == "local":
        if ray_only:
            raise DQBenchError(f"{', '.join(ray_only)} only apply with --executor ray")
        return None
    if args.jobs is not None or args.threads:
        raise DQBenchError("--jobs and --threads are for --executor local; with ray use --cpus-per-trial")
    from dqbench.run.executors.ray_cluster import RayCluster

    return RayCluster(address=args.address, cpus_per_trial=args.cpus_per_trial, retries=args.retries,
                      cache=args.cache, mirror=args.data_mirror)


def _print_plan(suite, out: Path, args) -> int:
    from collections import Counter

    from tabulate import tabulate

    from dqbench.run.plan import HEADERS, cell_key, duration, progress_rows
    from dqbench.run.runner import check_reuse, reusable, suite_progress

    check_reuse(args.reuse)
    trials, done, folded = suite_progress(suite, out, _root(args), filters=args.filters, quick=args.quick)
    todo = [t for t in trials if t.trial_id not in done or done[t.trial_id].get("status") != "ok"]
    copies = reusable(todo, args.reuse, suite.name) if args.reuse else {}
    rows = progress_rows(trials, done, folded, copied=set(copies))
    print(tabulate([[*r[:-1], duration(r.seconds_left)] for r in rows], headers=HEADERS, tablefmt="github"))
    ok, failed, left = (sum(getattr(r, f) for r in rows) for f in ("done", "failed", "to_run"))
    known = sum(r.seconds_left for r in rows if r.seconds_left is not None)
    copied_per_cell = Counter(cell_key(t.config()) for t in todo if t.trial_id in copies)
    unknown = sum(r.to_run - copied_per_cell[tuple(r[:4])] for r in rows if r.seconds_left is None)
    if left == len(copies):
        pace = ""
    elif unknown == left - len(copies):
        pace = "; no time estimate yet: none of their datasets has a finished trial in this directory"
    else:
        pace = f"; about {duration(known) or '0 min'} of training one trial at a time at the pace of the finished " \
            "trials" + (f" ({unknown} trials not estimated: no finished trial of their dataset yet)" if unknown else "")
    print(f"suite {suite.name} in {out}: {ok} of {len(trials)} selected trials done, {failed} failed, {left} to run"
          + (pace if left else ""))
    if args.reuse:
        print(f"--reuse: {len(copies)} of the {left} trials to run would be copied, not trained (no training time "
              f"counted for them); {left - len(copies)} would be trained")
    return 0


def cmd_validate(args) -> int:
    from dqbench.run.suite import expand, load_suite

    suite = load_suite(args.suite)
    trials = expand(suite)
    own = ", ".join(f"{d.label} {len(d.seeds)}" for d in suite.datasets if d.seeds)
    seeds = f"{len(suite.seeds)} seeds" + (f" ({own})" if own else "")
    print(f"{suite.path}: ok — suite '{suite.name}' ({suite.kind}), {len(suite.datasets)} datasets, "
          f"{len(suite.archs)} archs, {len(suite.methods)} methods, {seeds}: "
          f"{len(trials)} trials before cross-validation folds")
    if args.trials:
        for t in trials:
            print(t.trial_id)
    return 0


def cmd_list(args) -> int:
    from tabulate import tabulate

    from dqbench.registry import REGISTRIES

    kinds = [args.what] if args.what else list(REGISTRIES)
    for kind in kinds:
        rows = []
        for e in REGISTRIES[kind].entries():
            doc = (getattr(e.obj, "__doc__", None) or "").strip().splitlines()
            rows.append([e.name, e.source, doc[0] if doc else ""])
        print(f"{kind}:")
        print(tabulate(rows, headers=["name", "source", "description"], tablefmt="simple") if rows else "  (none)")
        print()
    return 0


def cmd_report(args) -> int:
    from dqbench.report.document import write_report

    if args.replicates < 0:
        raise DQBenchError(f"--replicates {args.replicates}: give a count of seeds/folds, 0 or more")
    print(f"report: {write_report(args.run, args.out, command=args.invocation, max_replicates=args.replicates)}")
    return 0


def cmd_compare(args) -> int:
    from dqbench.compare import main_compare

    return main_compare(args)


def cmd_baseline(args) -> int:
    from dqbench.compare import main_baseline

    return main_baseline(args)


def cmd_export(args) -> int:
    from dqbench.deploy.export import export_trial

    done = export_trial(args.run, args.trial_id, args.out, _root(args), backend=args.backend)
    score = (f"; engine test score {done['engine_test']:.4f} (record: {done['record_test']:.4f})"
             if "engine_test" in done else "")
    print(f"exported {args.trial_id} -> {done['out']} ({done['bytes']} bytes, {done['ops']} ops); loaded back, its "
          f"logits on the test graph ({done['rows']} rows) equal the in-process program's on {done['backend']}{score}")
    return 0


def cmd_infer(args) -> int:
    from dqbench.deploy.infer import infer

    done = infer(args.model, args.graph, args.out, backend=args.backend, threads=args.threads)
    print(f"{done['rows']} predictions ({done['backend']}) -> {done['out']}")
    return 0


def cmd_analyze(args) -> int:
    from dqbench.diagnostics.analyze import main_analyze

    return main_analyze(args, _root(args))


def cmd_trace(args) -> int:
    from dqbench.diagnostics.trace import main_trace

    _set_threads(args)
    return main_trace(args, _root(args))


HANDLERS = {"run": cmd_run, "export": cmd_export, "infer": cmd_infer, "validate": cmd_validate, "list": cmd_list,
            "report": cmd_report, "compare": cmd_compare, "baseline": cmd_baseline, "analyze": cmd_analyze,
            "trace": cmd_trace}


FILTERED_COMMANDS = ("run", "trace")  # the commands that take --dataset/--arch/... as trial filters


def main(argv: list[str] | None = None) -> int:
    from dqbench import process_settings

    process_settings.apply()  # before torch does any work
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser().parse_args(argv)
        args.filters = _filters(args) if args.command in FILTERED_COMMANDS else {}
        args.invocation = "dqbench " + " ".join(shlex.quote(a) for a in argv)  # for reports and the pieces log
        return HANDLERS[args.command](args)
    except DQBenchError as exc:
        print(f"dqbench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("dqbench: error: interrupted; finished trials are saved, run the same command again to resume",
              file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
