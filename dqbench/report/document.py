"""Records -> DataFrame -> markdown tables (tabulate), CSV (pandas) and PNG plots (matplotlib). No torch import."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from dqbench.errors import DQBenchError
from dqbench.report.fit_table import fit_frame, fit_markdown
from dqbench.report.labels import CELL_KEYS as KEYS
from dqbench.report.labels import fmt_bits, fmt_mean_std, fmt_mean_std_n, method_rank
from dqbench.report.paired import fmt_interval, paired_columns, paired_diff, select
from dqbench.report.pareto import PARETO_HEADERS, mixed_precision, pareto_frame, pareto_rows, plot_pareto
from dqbench.report.plots import plot_accuracy, plot_gains
from dqbench.report.replicates import MAX_REPLICATES, replicate_markdown
from dqbench.report.variants import variant_frame, variant_rows
from dqbench.run.records import read_records
from dqbench.run.store import RECORDS, RUN_INFO, RunStore

DEFAULT_ANCHORS = Path(__file__).resolve().parents[2] / "baselines" / "paper" / "anchors.csv"


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    run = Path(run_dir)
    if not (run / RECORDS).exists() and not (run / RUN_INFO).exists():
        raise DQBenchError(f"{run} is not a dqbench run directory (no {RECORDS}); give the --out of a 'dqbench run'")
    info = {}
    if (run / RUN_INFO).exists():
        try:
            info = json.loads((run / RUN_INFO).read_text())
        except json.JSONDecodeError:
            raise DQBenchError(f"{run / RUN_INFO} is corrupt; restore it or start a new run directory")
    records, _ = read_records(run / RECORDS)
    return info, records


def accuracy_frame(records: list[dict]) -> pd.DataFrame:
    """One row per finished accuracy trial; scores in percent."""
    rows = []
    for r in records:
        if r.get("kind", "accuracy") != "accuracy" or r["status"] != "ok":
            continue
        c, m = r["config"], r["metrics"]
        rows.append({
            "dataset": c["dataset"], "arch": c["arch"], "method": c["method"], "bits": c["bits"],
            "dataset_name": c.get("dataset_name", c["dataset"]), "arch_name": c.get("arch_name", c["arch"]),
            "method_name": c.get("method_name", c["method"]),
            "seed": c["seed"], "fold": c["fold"], "test": 100 * m["test"], "val": 100 * m["val"],
            "train": 100 * m["train"], "avg_bits": m.get("avg_bits"), "act_avg_bits": m.get("act_avg_bits"),
            "engine": m.get("engine"), "model_size_bytes": m.get("model_size_bytes"),
            "bitops": m.get("bitops"), "epoch_time_s": m.get("epoch_time_s"), "best_epoch": m.get("best_epoch"),
            "train_settings": _kv(c.get("train", {})),
        })
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """mean, std, n of the test score per dataset x arch x method x bits, with the difference to FP32 and its
    paired 95% interval over the seeds/folds both ran (``delta_lo``/``delta_hi``)."""
    if df.empty:
        return pd.DataFrame()
    g = df.groupby(KEYS, sort=False)
    out = g["test"].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    for col in ("avg_bits", "act_avg_bits", "model_size_bytes", "bitops", "epoch_time_s"):
        out[col] = pd.to_numeric(g[col].mean(), errors="coerce") if col in df else math.nan
    out["engine"] = g["engine"].agg(lambda v: next((x for x in v if isinstance(x, str)), None)) \
        if "engine" in df else None
    out = out.reset_index()
    # n = 1 leaves std undefined (NaN): printed as "–", never as a spread of 0
    fp32 = out[out["method"] == "fp32"].set_index(["dataset", "arch"])
    ci = [paired_diff(select(df, dataset=r.dataset, arch=r.arch, method=r.method, bits=r.bits),
                      select(df, dataset=r.dataset, arch=r.arch, method="fp32"))
          if r.method != "fp32" else None for r in out.itertuples()]
    # over the seeds/folds both cells ran (a partial run must not compare an easy fold with a hard one); the plain
    # difference of means only where they share none
    out["delta_fp32"] = [
        c.mean if c and c.n else row["mean"] - fp32["mean"].get((row["dataset"], row["arch"]), math.nan)
        for c, (_, row) in zip(ci, out.iterrows())
    ]
    ran = [max(row["n"], fp32["n"].get((row["dataset"], row["arch"]), 0)) for _, row in out.iterrows()]
    for column, values in paired_columns("delta", ci, ran).items():
        out[column] = values
    out["_order"] = out["method"].map(method_rank)
    return out.sort_values(["dataset", "arch", "_order", "bits"], ascending=[True, True, True, False]).drop(
        columns="_order").reset_index(drop=True)


def gains(summary: pd.DataFrame, df: pd.DataFrame | None = None, method: str = "degree_quant",
          over: str = "qat") -> pd.DataFrame:
    """Gain of ``method`` over ``over`` at each bit width (points); with the trials ``df``, also its paired 95%
    interval over the seeds/folds both ran (``gain_lo``/``gain_hi``)."""
    if summary.empty:
        return pd.DataFrame()
    a = summary[summary["method"] == method].set_index(["dataset", "arch", "bits"])
    b = summary[summary["method"] == over].set_index(["dataset", "arch", "bits"])
    both = a.merge(b, left_index=True, right_index=True, suffixes=(f"_{method}", f"_{over}"))
    if both.empty:
        return pd.DataFrame()
    both["epoch_time_ratio"] = both[f"epoch_time_s_{method}"] / both[f"epoch_time_s_{over}"]
    ci = [paired_diff(select(df, dataset=d, arch=a, method=method, bits=b),
                      select(df, dataset=d, arch=a, method=over, bits=b)) if df is not None else None
          for d, a, b in both.index]
    # paired mean over the seeds/folds both ran (equal to the difference of means when they ran the same ones)
    both["gain"] = [c.mean if c and c.n else m - o
                    for c, m, o in zip(ci, both[f"mean_{method}"], both[f"mean_{over}"])]
    ran = [max(x, y) for x, y in zip(both[f"n_{method}"], both[f"n_{over}"])]
    for column, values in paired_columns("gain", ci, ran).items():
        both[column] = values
    return both[[f"mean_{method}", f"std_{method}", f"mean_{over}", f"std_{over}", "gain", "gain_lo", "gain_hi",
                 "gain_n", "gain_partial", "epoch_time_ratio"]].reset_index()


def _bits_cell(*values) -> str:
    shown = [f"{float(v):.2f}" for v in values if v is not None and pd.notna(v)]
    return " / ".join(shown)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def anchor_table(summary: pd.DataFrame, anchors_path: Path | None) -> pd.DataFrame:
    """Our figure beside each published anchor of the same cell, with the difference."""
    if summary.empty or anchors_path is None or not Path(anchors_path).exists():
        return pd.DataFrame()
    anchors = pd.read_csv(anchors_path)
    ours = summary[KEYS + ["mean", "std", "n"] + [c for c in ("avg_bits", "act_avg_bits") if c in summary]]
    both = anchors.merge(ours, on=KEYS, suffixes=("_anchor", ""))
    if both.empty:
        return both
    both["diff"] = both["mean"] - both["mean_anchor"]
    return both


def markdown_tables(summary: pd.DataFrame, gain: pd.DataFrame, failures: list[dict], latency: pd.DataFrame,
                    anchors: pd.DataFrame | None = None, metric_name: str = "test score (%)",
                    variants: pd.DataFrame | None = None) -> str:
    from tabulate import tabulate

    parts = []
    if not summary.empty:
        rows = [[r.dataset, r.arch, r.method, fmt_bits(r.bits), fmt_mean_std_n(r["mean"], r["std"], r["n"]),
                 "" if r.method == "fp32" or math.isnan(r.delta_fp32) else f"{r.delta_fp32:+.2f}"
                 + (f" (n={r.delta_n})" if r.delta_partial else ""),
                 fmt_interval(r.delta_lo, r.delta_hi),
                 f"{r.avg_bits:.2f}" if pd.notna(r.avg_bits) else "",
                 f"{r.model_size_bytes / 1024:.1f}" if pd.notna(r.model_size_bytes) else "",
                 f"{r.bitops / 1e6:.3g}" if pd.notna(r.bitops) else "",
                 f"{r.epoch_time_s * 1000:.1f}" if pd.notna(r.epoch_time_s) else ""]
                for _, r in summary.iterrows()]
        parts.append(f"## Accuracy: {metric_name}, mean ± std (n)\n\n" + tabulate(
            rows, headers=["dataset", "arch", "method", "bits", "test", "Δ FP32", "95% CI", "avg bits", "size KiB",
                           "MBitOPs/row", "ms/epoch"], tablefmt="github", disable_numparse=True)
            + "\n\nΔ FP32: mean difference over the seeds/folds both cells ran (\"(n=k)\" where that is fewer "
              "than either ran: a partial run). 95% CI: its Student-t interval, paired (seed/fold effects cancel; "
              "blank with fewer than two). An interval that contains 0 means the difference is not "
              "distinguishable from seed noise at this n."
              "\n\nMBitOPs/row: BitOPs of the dense layers per node (graph tasks: per node too), weight bits × "
              "input bits per multiply-accumulate; aggregation is not counted.")
    if not gain.empty:
        rows = [[r.dataset, r.arch, fmt_bits(r.bits), fmt_mean_std(r.mean_degree_quant, r.std_degree_quant),
                 fmt_mean_std(r.mean_qat, r.std_qat), f"{r.gain:+.2f}" + (f" (n={r.gain_n})" if r.gain_partial else ""),
                 fmt_interval(r.gain_lo, r.gain_hi),
                 f"{r.epoch_time_ratio:.2f}×" if pd.notna(r.epoch_time_ratio) else ""] for _, r in gain.iterrows()]
        parts.append("## Degree-Quant gain over naive QAT (points)\n\n" + tabulate(
            rows, headers=["dataset", "arch", "bits", "degree_quant", "qat", "gain", "95% CI (paired)",
                           "epoch time dq/qat"],
            tablefmt="github", disable_numparse=True)
            + "\n\nEpoch time: mean training seconds per epoch, as the trials recorded them (run one after another "
              "or side by side on a shared machine: a noisy comparison; `tests/benchmarks/test_dq_overhead.py` is "
              "the interleaved one).")
    if variants is not None and not variants.empty:
        parts.append("## Variants against their default entry and against naive QAT (points)\n\n" + tabulate(
            variant_rows(variants), headers=["dataset", "arch", "method", "bits", "test", "− its default [95% CI]",
                                             "− qat [95% CI]"], tablefmt="github", disable_numparse=True)
            + "\n\nA variant is a suite entry with a `label` (e.g. `dq_clip_only`: `degree_quant` with settings); "
              "its default is the entry of the same dataset, arch or method without a label, everything else "
              "equal. − qat: against naive QAT at the same bit width; where the run has a QAT entry trained with the "
              "variant's own settings (learning rate, weight decay, ...), against that one, named in the cell. "
              "Differences paired over the seeds/folds both ran, with Student-t 95% intervals.")
    if anchors is not None and not anchors.empty:
        rows = [[r.dataset, r.arch, r.method, fmt_bits(r.bits), fmt_mean_std_n(r["mean"], r["std"], r["n"]),
                 _bits_cell(r.get("avg_bits"), r.get("act_avg_bits")), fmt_mean_std(r.mean_anchor, r.std_anchor),
                 _bits_cell(r.get("anchor_bits")), f"{r['diff']:+.2f}", r.source, _text(r.get("protocol"))]
                for _, r in anchors.iterrows()]
        parts.append("## Against published figures\n\n" + tabulate(
            rows, headers=["dataset", "arch", "method", "bits", "ours", "our avg bits (w / act)", "published",
                           "published bits", "diff", "source", "where the protocol differs"],
            tablefmt="github", disable_numparse=True))
    if not latency.empty:
        parts.append("## Latency: medians over rounds (full statistics and raw samples in the records)\n\n" + tabulate(
            latency_table(latency), headers="keys", tablefmt="github", showindex=False, floatfmt=".3g"))
        if "workload" in latency:
            parts.append("Workloads: " + "; ".join(sorted({f"{r.dataset}: {r.workload}" for r in
                                                          latency.itertuples()})) + ".")
        stages = stage_table(latency)
        if not stages.empty:
            parts.append("### INT8 stages against this machine's limits (roofline probe in each trial)\n\n"
                         + tabulate(stages, headers="keys", tablefmt="github", showindex=False, floatfmt=".3g"))
        skipped = skipped_controls(latency)
        if skipped:
            parts.append("### Controls not timed\n\n" + "\n".join(f"- {line}" for line in skipped))
    if failures:
        rows = [[f["trial_id"], f["status"], f.get("error", "")] for f in failures]
        parts.append("## Failed or skipped trials\n\n" + tabulate(rows, headers=["trial", "status", "reason"],
                                                                  tablefmt="github", disable_numparse=True))
    return "\n\n".join(parts) + "\n"


def _kv(d: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(d.items())) or "defaults"


def settings_tables(records: list[dict]) -> str:
    """The hyper-parameters the records ran with: per dataset x arch (model and training), per method."""
    from tabulate import tabulate

    cells, methods = {}, {}
    for r in records:
        c = r["config"]
        if r.get("kind", "accuracy") != "accuracy":
            continue
        key = (c["dataset"], c["arch"], _kv(c.get("arch_kwargs", {})), _kv(c.get("train", {})))
        cells.setdefault(key, None)
        if c.get("method_kwargs"):
            methods.setdefault((c["method"], fmt_bits(c["bits"]), _kv(c["method_kwargs"])), None)
    if not cells:
        return ""
    out = "## Settings (from the records)\n\n" + tabulate(
        list(cells), headers=["dataset", "arch", "model", "training"], tablefmt="github", disable_numparse=True)
    if methods:
        out += "\n\n" + tabulate(list(methods), headers=["method", "bits", "method settings"], tablefmt="github",
                                  disable_numparse=True)
    return out + "\n\nEvery other method setting is its default (`dqbench list` describes each method).\n"


def latency_frame(records: list[dict]) -> pd.DataFrame:
    """One row per latency configuration: its scalar metrics (medians, speed-ups, memory, backend)."""
    rows = []
    for r in records:
        if r.get("kind") != "latency" or r["status"] != "ok":
            continue
        c = r["config"]
        row = {"dataset": c["dataset"], "arch": c["arch"], "method": c["method"], "bits": c["bits"],
               "threads": c.get("threads"), "seed": c["seed"]}
        for k, v in _flatten(r["metrics"]).items():
            if isinstance(v, (int, float, str, bool)):
                row[k] = v
        rows.append(row)
    return pd.DataFrame(rows)


LATENCY_COLUMNS = {  # flattened metric -> column of the speed table (seconds shown in ms)
    "backend": "kernels", "median_s.int8": "INT8 ms", "graphs_per_s.int8": "INT8 graphs/s",
    "fastest_alternative": "fastest alternative", "speedup.vs_fastest_alternative": "× fastest",
    "speedup.vs_pyg": "× PyG", "speedup.vs_pyg_csr": "× PyG CSR", "speedup.vs_pyg_compile": "× PyG compiled",
    "speedup.vs_bf16": "× BF16", "speedup.vs_onnx_fp32": "× ORT FP32", "speedup.vs_onnx_int8": "× ORT INT8",
    "speedup.vs_fp32": "× FP32 same-structure", "speedup.vs_int32": "× INT32", "memory_ratio": "INT8/FP32 memory",
}
STAGES = ("quantize_input", "gemm", "spmm", "attention", "requantize")
STAGE_COLUMNS = {**{f"stages_s.{s}": f"{s} ms" for s in STAGES},
                 **{f"roofline.fraction_of_limit.{s}": f"{s} % of limit" for s in STAGES}}


def latency_table(latency: pd.DataFrame) -> pd.DataFrame:
    """The speed table: INT8 time (and graphs/s), the fastest alternative, INT8's speed-up over each control."""
    if latency.empty:
        return latency
    df = latency.copy()
    if "memory_bytes.int8_total" in df and "memory_bytes.fp32_total" in df:
        df["memory_ratio"] = df["memory_bytes.int8_total"] / df["memory_bytes.fp32_total"]
    cols = [c for c in LATENCY_COLUMNS if c in df]
    out = df[["dataset", "arch", "bits", "threads"] + cols].copy()
    for c in cols:
        if c.startswith("median_s."):
            out[c] = out[c] * 1000
    return out.rename(columns=LATENCY_COLUMNS)


def stage_table(latency: pd.DataFrame) -> pd.DataFrame:
    """Per stage: the INT8 program's time and the fraction of this machine's limit it reaches (the roofline)."""
    cols = [c for c in STAGE_COLUMNS if c in latency]
    if latency.empty or not cols:
        return pd.DataFrame()
    out = latency[["dataset", "arch", "threads"] + cols].copy()
    for c in cols:
        out[c] = out[c] * (1000 if c.startswith("stages_s.") else 100)
    return out.rename(columns=STAGE_COLUMNS)


def skipped_controls(latency: pd.DataFrame) -> list[str]:
    """'dataset arch tN: control: reason' for every control a trial could not time."""
    lines = []
    for _, row in latency.iterrows():
        for c in sorted(k for k in latency.columns if k.startswith("skip_reasons.")):
            if isinstance(row[c], str) and row[c]:
                lines.append(f"{row['dataset']} {row['arch']} t{row['threads']}: {c.split('.', 1)[1]}: {row[c]}")
    return lines


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def write_report(run_dir: str | Path, out_dir: str | Path | None = None, command: str | None = None,
                 anchors: Path | None = DEFAULT_ANCHORS, max_replicates: int = MAX_REPLICATES) -> Path:
    """Write report.md, summary.csv, gains.csv, fit.csv, latency.csv, accuracy.png and gains.png; returns the markdown
    path. ``max_replicates``: dataset × arch pairs with at most this many seeds/folds get a per-replicate table."""
    from tabulate import tabulate

    info, records = load_run(run_dir)
    if not records:
        raise DQBenchError(f"{run_dir} has no finished trials yet; run the suite first")
    out = Path(out_dir or run_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = accuracy_frame(records)
    summary = summarize(df)
    gain = gains(summary, df)
    latency = latency_frame(records)
    failures = [r for r in records if r["status"] != "ok"]
    suite = info.get("suite", {}).get("name", "?")
    env = info.get("environment", {})
    head = [f"# dqbench report: suite `{suite}`", ""]
    pieces = RunStore(run_dir).pieces()
    reused = any(p.get("reused") for p in pieces)
    if pieces:
        head += ["Produced by these `dqbench run` invocations into this directory (each ran the trials it lists "
                 "that were not already there; every record keeps its configuration):", "",
                 tabulate([[f"`{p['command']}`", str(p.get("git", "?"))[:12], p.get("started", "?"),
                            p.get("to_run", "?")] + ([p.get("reused", 0)] if reused else []) + [_piece_outcome(p)]
                           for p in pieces],
                          headers=["command", "commit", "started", "trials to run"]
                          + (["trials reused"] if reused else []) + ["outcome"],
                          tablefmt="github", disable_numparse=True), ""]
        if any("outcome" not in p for p in pieces):
            head += ["Outcome \"—\": no end was logged (the invocation was still running, was killed, or predates "
                     "end logging); its finished trials are in the records all the same.", ""]
        if reused:
            head += ["Trials reused: copied with `--reuse` from the run directory named in their record "
                     "(`reused_from`), where the same trial (same id, same configuration) had finished.", ""]
        if command and not command.startswith("dqbench run"):
            head += [f"Report written by `{command}`.", ""]
    elif command and command.startswith("dqbench run"):
        head += ["Produced by:", "", "```", command, "```", ""]
    elif command:
        head += [f"Report written by `{command}`. This run directory has no log of the `dqbench run` invocations "
                 "(its trials predate that log); every record keeps its configuration.", ""]
    head += [f"Run directory: `{run_dir}` — {len(records)} records ({len(failures)} failed or skipped).", "",
             f"Environment: {env.get('cpu', '?')}, {env.get('cpu_count', '?')} CPUs, torch threads "
             f"{env.get('torch_threads', '?')}, flags {' '.join(env.get('cpu_flags', []))}; "
             f"git at creation {env.get('git', '?')}; "
             + ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()), ""]
    body = markdown_tables(summary, gain, failures, latency, anchor_table(summary, anchors),
                           variants=variant_frame(df))
    per_replicate = replicate_markdown(df, max_replicates)
    if per_replicate:
        body += "\n" + per_replicate + "\n"
    fit = fit_frame(df)
    if not fit.empty:
        body += "\n" + fit_markdown(fit) + "\n"
        fit.to_csv(out / "fit.csv", index=False)
    if not summary.empty:
        summary.to_csv(out / "summary.csv", index=False)
        df.to_csv(out / "trials.csv", index=False)
        plot_accuracy(summary, out / "accuracy.png")
        body += "\n![accuracy by method and bit width](accuracy.png)\n"
    front = pareto_frame(summary)
    if not front.empty and mixed_precision(front):
        body += ("\n## Accuracy against bits: the Pareto front per dataset × arch\n\n" + tabulate(
            pareto_rows(front), headers=PARETO_HEADERS, tablefmt="github", disable_numparse=True)
            + "\n\nOn the front: no other cell of the same dataset and arch scores at least as high with at most as "
              "many average weight bits (one of the two strictly). Activation bits: weighted by the elements each "
              "activation point quantizes in one pass over the test split. INT8 engine: whether the integer "
              "engine lowers the trained model (its latency depends on the arch, graph and widths, not on the "
              "weights: see `reports/latency`), or why not.\n\n![accuracy against bits](pareto.png)\n")
        plot_pareto(summary, out / "pareto.png")
    if not gain.empty:
        gain.to_csv(out / "gains.csv", index=False)
        plot_gains(gain, out / "gains.png")
        body += "\n![Degree-Quant minus naive QAT per dataset and arch](gains.png)\n"
    settings = settings_tables(records)
    if settings:
        body += "\n" + settings
    if not latency.empty:
        latency.to_csv(out / "latency.csv", index=False)
    path = out / "report.md"
    path.write_text("\n".join(head) + "\n" + body)
    return path


def _piece_outcome(piece: dict) -> str:
    """'ran 3, interrupted' / 'ran 8' / '—' (no end logged) for the pieces table."""
    if "outcome" not in piece:
        return "—"
    text = f"ran {piece.get('ran', '?')}" + (f", {piece['failed']} failed" if piece.get("failed") else "")
    return text if piece["outcome"] == "finished" else f"{text}, {piece['outcome']}"
