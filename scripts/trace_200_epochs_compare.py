"""Side by side from the 200-epoch traces of REDDIT-BINARY fold 1 (INT4 GIN): Degree-Quant's default, masking off
(`dq_no_mask`) and EMA ranges (`dq_ema0.01`). Prints the training loss (training mode, as the optimizer sees it)
averaged per 20 epochs, and each GIN layer's aggregation and update ranges at the last step.

Run from the repository root after the three `dqbench trace ... --steps 2600 --every 130 --out reports/trace_200_epochs`
commands in README.md: `python scripts/trace_200_epochs_compare.py > reports/trace_200_epochs/compare.txt`."""

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parents[1] / "reports" / "trace_200_epochs"
METHODS = {"default": "degree_quant", "masking off": "dq_no_mask", "EMA ranges": "dq_ema0.01"}
STEPS_PER_EPOCH = 13  # 1600 training graphs, batch 128


def load(method: str, kind: str) -> pd.DataFrame:
    return pd.read_csv(HERE / f"reddit-binary-gin-{method}-int4-s0-f1-{kind}.csv")


def main():
    found = {k: m for k, m in METHODS.items() if (HERE / f"reddit-binary-gin-{m}-int4-s0-f1-steps.csv").exists()}
    loss = pd.DataFrame({k: load(m, "steps").groupby(lambda i: i // (20 * STEPS_PER_EPOCH))["loss"].mean()
                         for k, m in found.items()})
    loss.index = [f"epochs {20 * i}-{20 * i + 19}" for i in loss.index]
    print("Training loss (training mode), mean per 20 epochs\n")
    print(loss.round(3).to_string(), "\n")
    points = {k: load(m, "points") for k, m in found.items()}
    last = {k: p[p["step"] == p["step"].max()].set_index("point") for k, p in points.items()}
    rows = [p for p in next(iter(last.values())).index if p.endswith((":aggregate", ":update"))]
    table = pd.DataFrame({f"{k} range": last[k].loc[rows, "range_absmax"] for k in found})
    for k in found:
        table[f"{k} values"] = last[k].loc[rows, "batch_absmax"]
    print(f"Range (largest magnitude it represents) and the batch's largest magnitude at step "
          f"{int(next(iter(points.values()))['step'].max())}\n")
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
