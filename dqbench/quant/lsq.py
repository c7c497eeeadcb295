"""Learned step size quantization (Esser et al., ICLR 2020): a symmetric quantizer whose step ``s`` is a trained
parameter.

    v_bar = round(clip(v / s, -Q_N, Q_P)),  v_hat = v_bar * s

Gradients: d v_hat / d v = 1 inside the range, 0 outside (STE); d v_hat / d s = round(v/s) - v/s inside,
-Q_N below and Q_P above, times the gradient scale g = 1 / sqrt(N * Q_P). The step starts at
s = 2 * mean|v| / sqrt(Q_P) on the first values seen. N is the number of elements the quantizer sees in a
forward (weights: all of them; activations: the batch's; the paper's per-example feature count has no clear
meaning for one full graph). Edge-kind points (non-negative) use unsigned codes: Q_N = 0, Q_P = 2^b - 1, and so
does an activation point whose first values are all non-negative (after a ReLU, as the paper quantizes
post-ReLU activations) below 8 bits; at 8 bits it stays signed (the engine keeps node codes in int8).

The module learns log(s) (s = exp(theta); d/dtheta = s d/ds): dqbench trains with Adam, whose updates are about
the learning rate whatever the gradient's scale, so a raw step of 0.002 moved by 0.01 per iteration at lr 0.01
(measured: Cora GCN, INT8 LSQ at 25.0% test accuracy over 10 seeds, FP32 81.1); in log space an update is a
relative change of the step.

``init = "max"`` (an option; not the paper's) starts the step at max|v| / Q_P instead: trained from scratch, the
paper's start clips most of a GNN's small first activations at 4 bits, their gradients are zero beyond the range,
and a Cora GCN stays at chance (measured: INT4, seed 0, 13.0%; INT8 80.3%).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dqbench.quant.qparams import EPS, QParams, as_float32, check_bits, int_range

STEP_INITS = ("mean", "max")  # the paper's 2 mean|v| / sqrt(Q_P), or max|v| / Q_P


def scale_gradient(x: torch.Tensor, g: float) -> torch.Tensor:
    """``x`` in the forward pass (exactly: the added term is 0), its gradient multiplied by ``g`` backward."""
    return x.detach() + (x - x.detach()) * g


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half to even forward, identity backward."""
    return (torch.round(x) - x).detach() + x


def lsq(x: torch.Tensor, step: torch.Tensor, qmin: int, qmax: int, g: float) -> torch.Tensor:
    """The LSQ fake quantization of ``x`` with step ``step`` (gradients as in the module docstring)."""
    s = scale_gradient(step.clamp(min=EPS), g)
    return round_ste(torch.clamp(x / s, qmin, qmax)) * s


class LsqQuantize(nn.Module):
    """An LSQ quantizer for one quantization point, called as ``quantizer(x, protect=None)``.

    Training: the unprotected rows are fake-quantized with the learned step, protected rows (Degree-Quant's
    masks, when the method uses them) pass through; the step is initialised on the first unprotected values.
    Eval: every row is quantized. Before initialisation values pass through."""

    def __init__(self, bits: int, signed: bool = True, may_unsign: bool = False, init: str = "mean"):
        super().__init__()
        self.bits = check_bits(bits)
        self.signed, self.may_unsign = bool(signed), bool(may_unsign)
        if init not in STEP_INITS:
            raise ValueError(f"init must be one of {', '.join(STEP_INITS)}, got {init!r}")
        self.init = init
        self.qmin, self.qmax = int_range(self.bits, self.signed)
        self.log_step = nn.Parameter(torch.zeros(()))
        self.register_buffer("initialized", torch.tensor(False))

    @property
    def step(self) -> torch.Tensor:
        return self.log_step.exp().clamp(min=EPS)

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        if self.may_unsign and self.signed and self.bits < 8 and x.numel() and float(x.min()) >= 0:
            self.signed = False
            self.qmin, self.qmax = int_range(self.bits, False)
        mag = x.detach().abs()
        if self.init == "max":  # nothing clipped on the first values
            start = float(mag.max()) / self.qmax if x.numel() else 0.0
        else:  # the paper's
            start = 2.0 * float(mag.mean()) / math.sqrt(self.qmax) if x.numel() else 0.0
        self.log_step.fill_(math.log(max(start, EPS)))
        self.initialized.fill_(True)

    def qparams(self) -> QParams:
        return QParams(scale=as_float32(float(self.step)), zero_point=0, bits=self.bits, signed=self.signed)

    def forward(self, x: torch.Tensor, protect: torch.Tensor | None = None) -> torch.Tensor:
        protect = protect if self.training else None
        if not bool(self.initialized):
            if not self.training:
                return x
            self._init(x if protect is None else x[~protect])
        g = 1.0 / math.sqrt(max(x.numel(), 1) * self.qmax)
        out = lsq(x, self.step, self.qmin, self.qmax, g)
        if protect is not None:
            keep = protect.view(-1, *([1] * (x.dim() - 1)))
            out = torch.where(keep, x, out)
        return out

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}"
