"""Rows -> markdown for a CI summary (tabulate, github format) and a CSV (pandas)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from dqbench.compare.pairing import MARKS, REGRESSIONS, Row

ICONS = {"newly failing": "❌", "worse": "❌", "missing": "❌", "better": "⚠️", "fixed": "✅", "new": "🆕",
         "not comparable": "➖", "same": ""}
HEADERS = ["", "mark", "kind", "trial", "metric", "baseline", "now", "change", "p", "note"]


def _stat(row: Row, values: list | None) -> str:
    if not values:
        return ""
    if row.kind == "latency":
        return f"{1e3 * float(np.median(values)):.3f} ms (n={len(values)})"
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.4f} ± {std:.4f} (n={len(values)})"


def _change(row: Row) -> str:
    if row.verdict is None:
        return ""
    if row.kind == "latency":
        return f"{100 * row.verdict.effect:+.1f}%"
    return f"{row.verdict.effect:+.4f}"


def _cells(row: Row) -> list:
    p = row.verdict.p if row.verdict else None
    note = row.note
    if row.verdict and row.verdict.rule != "within tolerance" and row.mark != "not comparable":
        note = "; ".join(x for x in (row.verdict.rule, note) if x)
    if row.mark == "better":
        note = "; ".join(x for x in (note, "unexplained improvement: check it, then re-baseline") if x)
    return [ICONS[row.mark], row.mark, row.kind, row.name, row.metric, _stat(row, row.base), _stat(row, row.run),
            _change(row), "" if p is None else f"{p:.3g}", note.replace("|", "\\|")]


def _order(row: Row) -> tuple:
    return MARKS.index(row.mark), row.kind, row.name, row.metric


def _table(rows: list[Row]) -> str:
    return tabulate([_cells(r) for r in rows], HEADERS, tablefmt="github", disable_numparse=True)


def markdown(rows: list[Row], title: str, context: list[str], warnings: list[str]) -> str:
    counts = Counter(r.mark for r in rows)
    regressions = sum(counts[m] for m in REGRESSIONS)
    verdict = f"REGRESSION ({regressions})" if regressions else "OK"
    lines = [f"## {title}: {verdict}", ""]
    lines += [f"- {c}" for c in context]
    lines += [f"- ⚠️ {w}" for w in warnings]
    lines += ["", " · ".join(f"{m}: {counts[m]}" for m in MARKS if counts[m]) or "no trials", ""]
    flagged = sorted((r for r in rows if r.mark != "same"), key=_order)
    if flagged:
        attention = any(r.mark in REGRESSIONS + ("better",) for r in flagged)
        lines += ["### Needs attention" if attention else "### Changes", "", _table(flagged), ""]
    lines += ["<details><summary>All comparisons</summary>", "", _table(sorted(rows, key=_order)), "",
              "</details>", ""]
    return "\n".join(lines)


def frame(rows: list[Row]) -> pd.DataFrame:
    out = []
    for r in rows:
        v = r.verdict
        out.append({
            "mark": r.mark, "kind": r.kind, "trial": r.name, "metric": r.metric,
            "n_baseline": len(r.base or []), "n_now": len(r.run or []),
            "baseline": _center(r, r.base), "now": _center(r, r.run),
            "change": v.effect if v else None, "p_value": v.p if v else None, "rule": v.rule if v else "",
            "note": r.note, "config": r.key,
        })
    return pd.DataFrame(out, columns=["mark", "kind", "trial", "metric", "n_baseline", "n_now", "baseline", "now",
                                      "change", "p_value", "rule", "note", "config"])


def _center(row: Row, values: list | None) -> float | None:
    if not values:
        return None
    return float(np.median(values)) if row.kind == "latency" else float(np.mean(values))


def write(rows: list[Row], text: str, out: str | Path) -> Path:
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    (d / "compare.md").write_text(text)
    frame(rows).to_csv(d / "compare.csv", index=False)
    return d / "compare.md"
