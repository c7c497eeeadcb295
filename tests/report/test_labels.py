import math

from dqbench.report.labels import fmt_bits, fmt_mean_std, fmt_mean_std_n


def test_fmt_bits():
    assert fmt_bits(32) == "FP32" and fmt_bits(4) == "INT4"


def test_fmt_mean_std_marks_an_undefined_spread():
    assert fmt_mean_std(72.123, 1.834) == "72.12 ± 1.83"
    assert fmt_mean_std(72.0, math.nan) == "72.00 ± –" and fmt_mean_std(72.0, None) == "72.00 ± –"


def test_fmt_mean_std_n_appends_the_count_as_an_integer():
    assert fmt_mean_std_n(85.25, 3.5214, 10.0) == "85.25 ± 3.52 (10)"
    assert fmt_mean_std_n(50.0, math.nan, 1) == "50.00 ± – (1)"
