"""Aggregation-aware quantization (A²Q, Zhu et al., ICLR 2023): node features quantized with a learned step
size AND a learned bit width per node, so nodes whose aggregated features span wide ranges (high in-degree) can
take more bits and the rest fewer.

Node tasks (one fixed graph): one (step, bits) pair per node. Graph tasks (unseen nodes at inference): a table of
``groups`` (step, bits) pairs; each node takes the group whose largest representable value, step * Q_P(bits), is
nearest its max |x_i| (the paper's nearest-neighbour strategy), in training and at inference alike.

Steps start at max |x_i| / Q_P per node (groups: spread over the rows' max |x|), so the first values are not
clipped (LSQ's mean-based start stalled from scratch: see ``dqbench.quant.lsq``); all-zero rows take the tensor's.
Forward, per row i with b_i = round(clamp(bits_i, 2, 8)) (straight through) and Q_P = 2^(b-1) - 1, Q_N = 2^(b-1):
x_hat = round(clip(x / s_i, -Q_N, Q_P)) * s_i; the step gets LSQ's gradient, the width a gradient through the
clip bounds. ``local_gradient``: the task loss does not reach (s, b); instead ``local_loss`` (the squared
quantization error of the last forward) trains them, the paper's remedy for nodes the loss never sees.
Frozen (converted) forms: ``RowQParams`` and ``FixedRowQuantize``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dqbench.quant.lsq import round_ste, scale_gradient
from dqbench.quant.qparams import EPS, MAX_BITS, MIN_BITS, check_bits


def _bounds(bits: torch.Tensor, signed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if signed:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return torch.zeros_like(bits), 2.0 ** bits - 1


def row_quantize(x: torch.Tensor, step: torch.Tensor, bits: torch.Tensor, signed: bool) -> torch.Tensor:
    """x quantized row by row with steps ``step[i]`` and integer-valued widths ``bits[i]`` (float tensors)."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    lo, hi = _bounds(bits, signed)
    v = x / step.view(shape)
    v = torch.minimum(torch.maximum(v, lo.view(shape)), hi.view(shape))
    return round_ste(v) * step.view(shape)


def nearest_group(x: torch.Tensor, step: torch.Tensor, bits: torch.Tensor, signed: bool) -> torch.Tensor:
    """Each row's group: the one whose largest representable magnitude is nearest the row's max |x|."""
    top = x.detach().abs().reshape(x.size(0), -1).amax(dim=1) if x.numel() else x.new_zeros(x.size(0))
    reach = step.detach() * _bounds(bits.detach(), signed)[1]
    return (top.view(-1, 1) - reach.view(1, -1)).abs().argmin(dim=1)


class A2qQuantize(nn.Module):
    """Learned per-node (``rows``) or per-group (``groups``) step and width; see the module docstring."""

    def __init__(self, init_bits: int, signed: bool = True, rows: int | None = None, groups: int | None = None,
                 local_gradient: bool = False):
        super().__init__()
        if (rows is None) == (groups is None):
            raise ValueError("give rows (node task) or groups (graph task)")
        self.signed, self.local_gradient = bool(signed), bool(local_gradient)
        self.per_node = rows is not None
        n = rows if rows is not None else groups
        self.bits = nn.Parameter(torch.full((n,), float(check_bits(init_bits))))
        self.init_qp = 2 ** (init_bits - 1) - 1 if signed else 2 ** init_bits - 1
        self.log_step = nn.Parameter(torch.zeros(n))  # learned in log space, as LsqQuantize (dqbench.quant.lsq)
        self.register_buffer("initialized", torch.tensor(False))
        self.local_loss: torch.Tensor | None = None
        self.elements_by_row: torch.Tensor | None = None
        self.elements = 0

    @property
    def step(self) -> torch.Tensor:
        return self.log_step.exp().clamp(min=EPS)

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        if self.signed and x.numel() and float(x.min()) >= 0:  # non-negative (after a ReLU): unsigned codes
            self.signed = False
        qp = 2.0 ** (self.bits - 1) - 1 if self.signed else 2.0 ** self.bits - 1
        mag = x.detach().abs().reshape(x.size(0), -1)
        if self.per_node:  # each node's max |x_i| / Q_P (nothing clipped at first); an all-zero row: the tensor's
            tops = mag.amax(dim=1) if mag.numel() else torch.zeros(x.size(0))
            overall = float(tops.max()) if tops.numel() else 0.0
            tops = torch.where(tops > 0, tops, torch.full_like(tops, overall if overall > 0 else 1.0))
            self.log_step.copy_((tops / qp).clamp(min=EPS).log())
        else:  # groups spread over the quantiles of the rows' max |x|
            levels = (torch.arange(self.step.numel(), dtype=torch.float32) + 0.5) / self.step.numel()
            top = mag.amax(dim=1) if mag.numel() else torch.ones(1)
            self.log_step.copy_((torch.quantile(top.float(), levels) / qp).clamp(min=EPS).log())
        self.initialized.fill_(True)

    def widths(self) -> torch.Tensor:
        """The integer widths in use (per node or per group)."""
        return torch.round(self.bits.detach().clamp(MIN_BITS, MAX_BITS))

    def row_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(step, width) for every row of ``x`` (widths straight-through rounded, differentiable)."""
        bits = round_ste(self.bits.clamp(MIN_BITS, MAX_BITS))
        step = self.step
        if self.per_node:
            if x.size(0) != step.numel():
                raise ValueError(f"a2q: {x.size(0)} rows, but the quantizer was built for {step.numel()} nodes")
            return step, bits
        group = nearest_group(x, step, bits, self.signed)
        return step[group], bits[group]

    def forward(self, x: torch.Tensor, protect: torch.Tensor | None = None) -> torch.Tensor:
        if not bool(self.initialized):
            if not self.training:
                return x
            self._init(x)
        step, bits = self.row_params(x)
        per_row = x[0].numel() if x.numel() else 1
        # LSQ's gradient scale 1/sqrt(N Q_P) with N the elements one step sees (a row; a group's share of rows)
        share = per_row if self.per_node else x.numel() / self.log_step.numel()
        g = 1.0 / math.sqrt(max(share, 1) * self.init_qp)
        self.elements_by_row = bits * per_row  # differentiable in the widths (the memory penalty)
        self.elements = x.numel()
        if self.local_gradient and self.training:
            local = row_quantize(x.detach(), scale_gradient(step, g), bits, self.signed)
            self.local_loss = (local - x.detach()).pow(2).mean()
            return row_quantize(x, step.detach(), bits.detach(), self.signed)
        return row_quantize(x, scale_gradient(step, g), bits, self.signed)

    def memory_bits(self) -> torch.Tensor:
        """Differentiable bits of the last forward's rows (sum over rows of width x features; ``elements``
        of them)."""
        return self.elements_by_row.sum() if self.elements_by_row is not None else torch.zeros(())

    def qparams(self) -> "RowQParams":
        """The frozen per-row parameters (what ``convert`` stores)."""
        return RowQParams(scale=self.step.detach().float().clone(), bits=self.widths().long(),
                          signed=self.signed, per_node=self.per_node)


@dataclass(frozen=True)
class RowQParams:
    """Frozen per-node (or per-group, nearest-neighbour selected) symmetric qparams: zero point 0."""

    scale: torch.Tensor
    bits: torch.Tensor
    signed: bool
    per_node: bool

    def to_dict(self) -> dict:
        return {"scale": self.scale.tolist(), "bits": self.bits.tolist(), "signed": self.signed,
                "per_node": self.per_node}


class FixedRowQuantize(nn.Module):
    """The converted form of an A²Q point (the simulated model of a converted model)."""

    def __init__(self, qp: RowQParams):
        super().__init__()
        self.qp = qp

    def element_bits(self, x: torch.Tensor) -> torch.Tensor:
        """The width each row of ``x`` is quantized at."""
        if self.qp.per_node:
            return self.qp.bits
        return self.qp.bits[nearest_group(x, self.qp.scale, self.qp.bits.float(), self.qp.signed)]

    def forward(self, x: torch.Tensor, protect: torch.Tensor | None = None) -> torch.Tensor:
        bits = self.qp.bits.float()
        if self.qp.per_node:
            return row_quantize(x, self.qp.scale, bits, self.qp.signed)
        group = nearest_group(x, self.qp.scale, bits, self.qp.signed)
        return row_quantize(x, self.qp.scale[group], bits[group], self.qp.signed)
