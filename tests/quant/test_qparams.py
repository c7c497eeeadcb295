import math

import pytest

from dqbench.errors import DQBenchError
from dqbench.quant.qparams import QParams, as_float32, check_bits, int_range


@pytest.mark.parametrize("bits", range(2, 9))
def test_int_range_signed_and_unsigned(bits):
    assert int_range(bits, True) == (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    assert int_range(bits, False) == (0, 2**bits - 1)


@pytest.mark.parametrize("bad", [1, 9, 16, 32, 0, -8, 8.0, "8", True, None])
def test_check_bits_rejects_unsupported(bad):
    with pytest.raises(DQBenchError, match="use an integer from 2 to 8"):
        check_bits(bad)


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("lo,hi", [(-1.0, 3.0), (0.5, 2.0), (-4.0, -1.0), (0.0, 0.0), (-1e-12, 1e-12)])
def test_from_range_covers_range_and_zero_exactly(bits, signed, lo, hi):
    qp = QParams.from_range(lo, hi, bits, signed)
    assert qp.scale > 0
    assert qp.qmin <= qp.zero_point <= qp.qmax
    assert qp.scale == as_float32(qp.scale)
    lo0, hi0 = min(lo, 0.0), max(hi, 0.0)
    # the representable interval covers [lo, hi] (up to half a step of zero-point rounding)
    assert (qp.qmin - qp.zero_point) * qp.scale <= lo0 + qp.scale / 2 + 1e-12
    assert (qp.qmax - qp.zero_point) * qp.scale >= hi0 - qp.scale / 2 - 1e-12


def test_from_range_known_values():
    qp = QParams.from_range(-1.0, 1.0, 8, True)
    assert math.isclose(qp.scale, 2.0 / 255, rel_tol=1e-6)
    assert qp.zero_point in (-1, 0)  # -128 + 127.5 up to float32 rounding of the scale
    qp = QParams.from_range(0.0, 2.55, 8, False)
    assert math.isclose(qp.scale, 0.01, rel_tol=1e-6) and qp.zero_point == 0
    qp = QParams.from_range(-2.0, 0.0, 4, False)
    assert qp.zero_point == 15


def test_from_range_non_finite_degrades_to_tiny_scale():
    qp = QParams.from_range(float("nan"), float("inf"), 8, True)
    assert qp.scale > 0 and math.isfinite(qp.scale)


def test_dict_round_trip():
    qp = QParams.from_range(-0.3, 1.7, 4, False)
    assert QParams.from_dict(qp.to_dict()) == qp
