"""Quantizer modules filled into a model's roles: observing ``FakeQuantize`` and frozen ``FixedQuantize``.

Both are called as ``quantizer(x, protect=None)``; ``protect`` is a bool mask over the rows of ``x``.
"""

from __future__ import annotations

import torch
from torch import nn

from dqbench.errors import DQBenchError
from dqbench.quant.fake_quant import BACKWARDS, fake_quantize
from dqbench.quant.observers import Observer
from dqbench.quant.qparams import QParams, check_bits


class FakeQuantize(nn.Module):
    """Observe a range, then fake-quantize with it.

    Training: the non-protected rows update the observer and are fake-quantized; protected rows pass through
    in full precision. Eval: every row is quantized with the range as it stands (no observing), unless
    ``dynamic`` (weights: the range always follows the current tensor). ``calibrating``: observe only, return
    ``x`` unchanged (PTQ). ``frozen``: never observe again. Before the first observation ``x`` passes through.
    ``observe_protected``: protected rows update the observer too (they still pass through unquantized).
    ``clamp_protected``: protected rows are clamped to the representable range (saturated beyond it) but not
    rounded, so their values stay within the ranges that the next quantizers observe.
    """

    def __init__(self, bits: int, signed: bool = True, observer: Observer | None = None, backward: str = "ste",
                 dynamic: bool = False):
        super().__init__()
        if backward not in BACKWARDS:
            raise DQBenchError(f"unknown backward {backward!r}; use one of: {', '.join(BACKWARDS)}")
        self.bits = check_bits(bits)
        self.signed = bool(signed)
        self.observer = observer if observer is not None else Observer()
        self.backward = backward
        self.dynamic = dynamic
        self.calibrating = False
        self.frozen = False
        self.observe_protected = False
        self.clamp_protected = False

    def qparams(self) -> QParams:
        return QParams.from_range(float(self.observer.lo), float(self.observer.hi), self.bits, self.signed)

    def freeze(self) -> "FakeQuantize":
        self.frozen = True
        return self

    def forward(self, x: torch.Tensor, protect: torch.Tensor | None = None) -> torch.Tensor:
        protect = protect if self.training else None
        if not self.frozen and (self.training or self.calibrating or self.dynamic):
            self.observer(x, None if self.observe_protected else protect)
        if self.calibrating or not bool(self.observer.initialized):
            return x
        qp = self.qparams()
        return fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, self.backward, protect, self.clamp_protected)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}, backward={self.backward}, dynamic={self.dynamic}"


class FixedQuantize(nn.Module):
    """Fake quantization with frozen parameters (the simulated model of a converted model)."""

    def __init__(self, qparams: QParams):
        super().__init__()
        self.qp = qparams

    def qparams(self) -> QParams:
        return self.qp

    def forward(self, x: torch.Tensor, protect: torch.Tensor | None = None) -> torch.Tensor:
        qp = self.qp
        return fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax)

    def extra_repr(self) -> str:
        return f"{self.qp}"
