"""Per-tensor affine quantization parameters for 2-8 bit signed or unsigned integers."""

from __future__ import annotations

import math
import struct
from dataclasses import asdict, dataclass

from dqbench.errors import DQBenchError

MIN_BITS, MAX_BITS = 2, 8
EPS = 1e-8


def check_bits(bits) -> int:
    """``bits`` if it is a supported integer bit width (2..8), else a DQBenchError."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_BITS <= bits <= MAX_BITS:
        raise DQBenchError(f"bit width {bits!r} is not supported; use an integer from {MIN_BITS} to {MAX_BITS}")
    return bits


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """(qmin, qmax): [-2^(b-1), 2^(b-1) - 1] signed, [0, 2^b - 1] unsigned."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def as_float32(value: float) -> float:
    """``value`` rounded to the nearest float32, so float32 kernels see exactly the same scale."""
    return struct.unpack("f", struct.pack("f", value))[0]


@dataclass(frozen=True)
class QParams:
    scale: float
    zero_point: int
    bits: int
    signed: bool

    @property
    def qmin(self) -> int:
        return int_range(self.bits, self.signed)[0]

    @property
    def qmax(self) -> int:
        return int_range(self.bits, self.signed)[1]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "QParams":
        return cls(scale=float(d["scale"]), zero_point=int(d["zero_point"]), bits=int(d["bits"]),
                   signed=bool(d["signed"]))

    @classmethod
    def from_range(cls, lo: float, hi: float, bits: int, signed: bool) -> "QParams":
        """Affine parameters covering [lo, hi] (extended to include 0, so zero is exact)."""
        lo, hi = float(lo), float(hi)
        lo = min(lo, 0.0) if math.isfinite(lo) else 0.0  # a diverged (NaN/inf) range degrades to zero, not a crash
        hi = max(hi, 0.0) if math.isfinite(hi) else 0.0
        qmin, qmax = int_range(bits, signed)
        scale = as_float32(max((hi - lo) / (qmax - qmin), EPS))
        zero_point = int(round(qmin - lo / scale))
        zero_point = max(qmin, min(qmax, zero_point))
        return cls(scale=scale, zero_point=zero_point, bits=bits, signed=signed)
