"""Fake quantization (quantize then dequantize) with straight-through or gradient-clipping backward."""

from __future__ import annotations

import torch

BACKWARDS = ("ste", "clip")


def quantize(x: torch.Tensor, scale: float, zero_point: int, qmin: int, qmax: int) -> torch.Tensor:
    """Integer codes (as float): clamp(round(x / scale) + zero_point, qmin, qmax); round half to even."""
    return torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)


def dequantize(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    return (q - zero_point) * scale


class _FakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax, clip):
        out = dequantize(quantize(x, scale, zero_point, qmin, qmax), scale, zero_point)
        if clip:
            lo, hi = (qmin - zero_point) * scale, (qmax - zero_point) * scale
            ctx.save_for_backward((x >= lo) & (x <= hi))
        ctx.clip = clip
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.clip:
            (inside,) = ctx.saved_tensors
            grad = grad * inside
        return grad, None, None, None, None, None


def fake_quantize(x: torch.Tensor, scale: float, zero_point: int, qmin: int, qmax: int,
                  backward: str = "ste") -> torch.Tensor:
    """Quantize-dequantize ``x``; backward ``"ste"`` passes gradients through, ``"clip"`` zeroes saturated ones."""
    return _FakeQuant.apply(x, float(scale), int(zero_point), int(qmin), int(qmax), backward == "clip")
