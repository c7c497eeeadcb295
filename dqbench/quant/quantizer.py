"""Quantizer modules filled into a model's roles: learnable-range FakeQuantize and frozen FixedQuantize."""

from __future__ import annotations

import torch
from torch import nn

from dqbench.quant.fake_quant import BACKWARDS, fake_quantize
from dqbench.quant.observers import Observer
from dqbench.quant.qparams import QParams, check_bits


def _keep_protected(x: torch.Tensor, out: torch.Tensor, protect: torch.Tensor) -> torch.Tensor:
    """Rows flagged in ``protect`` keep their full-precision value."""
    return torch.where(protect.view(-1, *([1] * (x.dim() - 1))), x, out)


class FakeQuantize(nn.Module):
    """Observe a range, then fake-quantize. In training, protected rows pass through at full precision and are
    left out of the range tracking; in eval every row is quantized with the frozen range."""

    def __init__(self, bits: int, signed: bool = True, observer: Observer | None = None, backward: str = "ste"):
        super().__init__()
        if backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}")
        self.bits = check_bits(bits)
        self.signed = signed
        self.observer = observer if observer is not None else Observer()
        self.backward = backward
        self.calibrating = False

    def qparams(self) -> QParams:
        return QParams.from_range(float(self.observer.lo), float(self.observer.hi), self.bits, self.signed)

    def forward(self, x: torch.Tensor, protect: torch.Tensor | None = None) -> torch.Tensor:
        if self.training or self.calibrating:
            seen = x if protect is None else x[~protect]
            self.observer(seen)
        if self.calibrating or not bool(self.observer.initialized):
            return x
        qp = self.qparams()
        out = fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax, self.backward)
        if self.training and protect is not None:
            out = _keep_protected(x, out, protect)
        return out

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}, backward={self.backward}"


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
