"""Per-replicate tables: the test score of every seed/fold, one column per method and bit width, for each
dataset × arch that has only a few replicates (a long cross-validation run in pieces, a few seeds of a slow
dataset). With so few, the mean hides which folds a cell has and whether one fold drives a difference."""

from __future__ import annotations

import pandas as pd

from dqbench.report.labels import MAX_REPLICATES, fmt_bits, method_rank


def _replicate(seed: int, fold: int, seeds: int, folds: int) -> str:
    if folds > 1 and seeds == 1:
        return f"fold {fold}"
    if seeds > 1 and folds == 1:
        return f"seed {seed}"
    return f"seed {seed}, fold {fold}"


def _column(method: str, bits: int) -> str:
    return method if bits == 32 else f"{method} {fmt_bits(bits)}"


def replicate_tables(df: pd.DataFrame, max_replicates: int = MAX_REPLICATES) -> dict[tuple[str, str], pd.DataFrame]:
    """(dataset, arch) -> table indexed by replicate ("fold 3", "seed 1") with one column per method and bit width
    ("qat INT4") and a last row "mean", for each dataset × arch with 2 to ``max_replicates`` replicates. A cell that
    did not run a replicate is NaN there; its mean is over the replicates it ran."""
    out = {}
    if df.empty:
        return out
    for (dataset, arch), g in df.groupby(["dataset", "arch"], sort=True):
        reps = g[["seed", "fold"]].drop_duplicates().sort_values(["seed", "fold"])
        if not 2 <= len(reps) <= max_replicates:
            continue
        seeds, folds = reps["seed"].nunique(), reps["fold"].nunique()
        rows = [_replicate(s, f, seeds, folds) for s, f in reps.itertuples(index=False)]
        cells = sorted(g.drop_duplicates(["method", "bits"])[["method", "bits"]].itertuples(index=False),
                       key=lambda c: (method_rank(c.method), c.method, -c.bits))
        g = g.assign(row=[_replicate(s, f, seeds, folds) for s, f in zip(g["seed"], g["fold"])],
                     column=[_column(m, b) for m, b in zip(g["method"], g["bits"])])
        table = g.pivot(index="row", columns="column", values="test").reindex(
            index=rows, columns=[_column(c.method, c.bits) for c in cells])
        table.columns.name = table.index.name = None
        table.loc["mean"] = table.mean()
        out[(dataset, arch)] = table
    return out


def replicate_markdown(df: pd.DataFrame, max_replicates: int = MAX_REPLICATES) -> str:
    """The markdown section of the report ("" when no dataset × arch has few replicates)."""
    from tabulate import tabulate

    tables = replicate_tables(df, max_replicates)
    if not tables:
        return ""
    parts = [f"## Per seed/fold, where a dataset × arch has at most {max_replicates} (test score, %)",
             "Each replicate's score, so that a partial run can be read fold by fold; \"–\": that cell has not run "
             "it. The mean row is over the replicates each cell ran (paired comparisons: the tables above)."]
    for (dataset, arch), t in tables.items():
        rows = [[rep] + ["–" if pd.isna(v) else f"{v:.2f}" for v in t.loc[rep]] for rep in t.index]
        parts.append(f"**{dataset}, {arch}**\n\n" + tabulate(rows, headers=[""] + list(t.columns), tablefmt="github",
                                                              disable_numparse=True))
    return "\n\n".join(parts)
