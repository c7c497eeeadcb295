"""How reports and plots name and order things: bit widths as FP32/INT8/INT4, methods from FP32 to Degree-Quant.
Free of pandas, so that the command line can read its defaults here without loading it."""

import math

MAX_REPLICATES = 5  # reports: per seed/fold tables for at most this many replicates; above, mean ± std (n) says enough

CELL_KEYS = ["dataset", "arch", "method", "bits"]  # the columns that name a cell of a report

METHOD_ORDER = {"fp32": 0, "ptq": 1, "qat": 2, "degree_quant": 3}


def method_rank(method: str) -> int:
    """Sort key for methods: the registered baselines first, plugins after them."""
    return METHOD_ORDER.get(method, len(METHOD_ORDER))


def fmt_bits(bits: int) -> str:
    """32 -> "FP32", 8 -> "INT8"."""
    return "FP32" if bits == 32 else f"INT{bits}"


def fmt_mean_std(mean: float, std: float | None) -> str:
    """72.123, 1.834 -> "72.12 ± 1.83"; an undefined std (n = 1: NaN) -> "72.12 ± –", never a spread of 0."""
    return f"{mean:.2f} ± " + ("–" if std is None or math.isnan(std) else f"{std:.2f}")


def fmt_mean_std_n(mean: float, std: float | None, n: int) -> str:
    """72.123, 1.834, 10 -> "72.12 ± 1.83 (10)": a table cell with its number of seeds/folds."""
    return f"{fmt_mean_std(mean, std)} ({int(n)})"
