"""Range observers: min/max, momentum (EMA of min/max), and a cheap sampled percentile."""

from __future__ import annotations

import torch
from torch import nn


class Observer(nn.Module):
    """Tracks a (lo, hi) range from the tensors it is shown; state lives in buffers (saved with the model)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))

    def batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.min(), x.max()

    def combine(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        self.lo.copy_(lo)
        self.hi.copy_(hi)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> None:
        if x.numel() == 0:
            return
        lo, hi = self.batch_range(x.detach())
        if not bool(self.initialized):
            self.lo.copy_(lo)
            self.hi.copy_(hi)
            self.initialized.fill_(True)
        else:
            self.combine(lo, hi)


class MinMaxObserver(Observer):
    """Running minimum and maximum over everything seen."""

    def combine(self, lo, hi):
        self.lo.copy_(torch.minimum(self.lo, lo))
        self.hi.copy_(torch.maximum(self.hi, hi))


class MomentumObserver(Observer):
    """Exponential moving average of each batch's min and max: r <- (1 - m) r + m r_batch."""

    def __init__(self, momentum: float = 0.01):
        super().__init__()
        self.momentum = momentum

    def combine(self, lo, hi):
        self.lo.mul_(1 - self.momentum).add_(self.momentum * lo)
        self.hi.mul_(1 - self.momentum).add_(self.momentum * hi)


class PercentileObserver(MomentumObserver):
    """EMA of the batch's ``tail`` and ``1 - tail`` quantiles, estimated on a random sample of at most
    ``sample_size`` elements (the full-tensor kthvalue of the original Degree-Quant code is what made it slow)."""

    def __init__(self, tail: float = 0.001, momentum: float = 0.01, sample_size: int = 8192):
        super().__init__(momentum)
        self.tail = tail
        self.sample_size = sample_size

    def batch_range(self, x):
        flat = x.reshape(-1)
        if flat.numel() > self.sample_size:
            idx = torch.randint(0, flat.numel(), (self.sample_size,), device=flat.device)
            flat = flat[idx]
        flat = flat.float()
        n = flat.numel()
        k_lo = max(1, min(n, int(round(self.tail * n)) + 1))
        k_hi = max(1, min(n, n - int(round(self.tail * n))))
        return torch.kthvalue(flat, k_lo).values, torch.kthvalue(flat, k_hi).values


OBSERVERS = {"minmax": MinMaxObserver, "momentum": MomentumObserver, "percentile": PercentileObserver}
