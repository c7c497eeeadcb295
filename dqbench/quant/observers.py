"""Range observers: the current tensor, running min/max, momentum (EMA of min/max), and a sampled percentile.

An observer is shown tensors through ``observer(x, protect=None)``; ``protect`` is a bool mask over the rows of
``x`` whose rows are left out (Degree-Quant's protected nodes do not update the low-precision ranges).
State lives in buffers, so it is saved and restored with the model's ``state_dict``.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from dqbench.errors import DQBenchError
from dqbench.kernels import enabled, ptr
from dqbench.quant.fake_quant import checked_row_mask


def unprotected_rows(x: torch.Tensor, protect: torch.Tensor | None) -> torch.Tensor:
    """The rows of ``x`` not flagged in ``protect`` (all of ``x`` when ``protect`` is None)."""
    return x if protect is None else x[~protect]


def compiled_percentile(x: torch.Tensor):
    """The compiled percentile kernel when it applies to ``x`` (float32, contiguous, on the CPU, kernels built and
    not switched off with ``DQBENCH_ENGINE=torch``), else None: then the PyTorch ops run. Both give the same values."""
    if x.dtype != torch.float32 or not x.is_cpu or not x.is_contiguous():
        return None
    return getattr(enabled(), "percentile_range", None)


def is_rate(momentum) -> bool:
    """A float momentum in (0, 1]."""
    return isinstance(momentum, (int, float)) and not isinstance(momentum, bool) and 0.0 < momentum <= 1.0


def average_into(observer: "Observer", lo: torch.Tensor, hi: torch.Tensor, momentum: float | None) -> None:
    """``r <- (1 - m) r + m r_batch`` on the observer's range; ``momentum=None``: m = 1/count, the plain mean."""
    observer.count.add_(1)
    m = 1.0 / float(observer.count) if momentum is None else momentum
    observer.lo.lerp_(lo.to(observer.lo.dtype), m)
    observer.hi.lerp_(hi.to(observer.hi.dtype), m)


class Observer(nn.Module):
    """The range of the latest tensor only (used for weights, observed at every forward)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))

    def batch_range(self, x: torch.Tensor, protect: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(lo, hi) of this batch, or None when nothing is left to observe."""
        x = unprotected_rows(x, protect)
        if x.numel() == 0:
            return None
        return torch.aminmax(x)

    def combine(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """Merge a batch range into the running one (the first batch initialises it)."""
        self.lo.copy_(lo)
        self.hi.copy_(hi)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, protect: torch.Tensor | None = None) -> None:
        rng = self.batch_range(x.detach(), protect)
        if rng is None:
            return
        lo, hi = rng
        if not bool(self.initialized):
            self.lo.copy_(lo)
            self.hi.copy_(hi)
            self.initialized.fill_(True)
        else:
            self.combine(lo, hi)


class MinMaxObserver(Observer):
    """Running minimum and maximum over everything seen (PTQ calibration)."""

    def combine(self, lo, hi):
        torch.minimum(self.lo, lo, out=self.lo)
        torch.maximum(self.hi, hi, out=self.hi)


class MomentumObserver(Observer):
    """Exponential moving average of each batch's min and max: ``r <- (1 - momentum) r + momentum r_batch``.
    ``momentum=None`` gives the plain running mean over all batches (for calibration)."""

    def __init__(self, momentum: float | None = 0.01):
        super().__init__()
        if momentum is not None and not is_rate(momentum):
            raise DQBenchError(f"momentum must be a number in (0, 1], got {momentum!r}")
        self.momentum = momentum
        self.register_buffer("count", torch.tensor(1))

    def combine(self, lo, hi):
        average_into(self, lo, hi, self.momentum)

    def extra_repr(self) -> str:
        return f"momentum={self.momentum}"


class PercentileObserver(Observer):
    """Tracks the batch's ``tail`` and ``1 - tail`` quantiles (clips outliers), estimated on a random sample of at
    most ``sample_size`` elements drawn from the unprotected rows. Sampling keeps it O(sample_size) per call; the
    original Degree-Quant code ran kthvalue over every full tensor, which made it several times slower than QAT.

    ``momentum``: None keeps the running extremes of the batch quantiles (lowest low, highest high; what the
    original Degree-Quant does), a float in (0, 1] an EMA of them, ``"mean"`` their plain mean over batches."""

    def __init__(self, tail: float = 0.001, momentum: float | str | None = None, sample_size: int = 8192):
        super().__init__()
        if not 0.0 <= tail < 0.5:
            raise DQBenchError(f"percentile tail must be in [0, 0.5), got {tail}")
        if momentum is not None and momentum != "mean" and not is_rate(momentum):
            raise DQBenchError(f"percentile momentum must be None, 'mean' or in (0, 1], got {momentum!r}")
        self.tail = tail
        self.momentum = momentum
        self.sample_size = sample_size
        self.register_buffer("count", torch.tensor(1))

    def sample(self, x: torch.Tensor, protect: torch.Tensor | None) -> torch.Tensor:
        """At most ``sample_size`` elements of the unprotected rows (drawn with replacement)."""
        flat = x.reshape(-1)
        if flat.numel() <= self.sample_size:
            return unprotected_rows(x, protect).reshape(-1)
        idx = torch.randint(0, flat.numel(), (self.sample_size,), device=x.device)
        if protect is not None:  # take/masked_select: the same elements as indexing, with less dispatch per call
            row_len = flat.numel() // x.size(0)
            idx = idx.masked_select(~protect.take(idx // row_len))
        return flat.take(idx)

    def batch_range(self, x, protect):
        compiled = compiled_percentile(x)
        if compiled is not None:
            return self.compiled_range(compiled, x, protect)
        values = self.sample(x, protect).float()
        if values.numel() == 0:
            return None
        last = values.numel() - 1  # k-th smallest by selection: cheaper than a sort, no size limit (torch.quantile)
        lo = torch.kthvalue(values, int(round(self.tail * last)) + 1).values
        hi = torch.kthvalue(values, int(round((1.0 - self.tail) * last)) + 1).values
        return self.uncollapse(lo, hi, values.aminmax)

    def compiled_range(self, kernel, x, protect):
        """:meth:`batch_range` in one call of the compiled kernel: the same random indices (the same draw from
        torch's generator), the same kept elements and the same k-th values as the PyTorch ops, with no
        intermediate tensors (on ogbg-molhiv's small batches those ops were most of Degree-Quant's cost over QAT)."""
        flat = x.reshape(-1)
        idx = None
        if flat.numel() > self.sample_size:
            idx = torch.randint(0, flat.numel(), (self.sample_size,), device=x.device)
        rows = x.size(0) if x.dim() else 1
        protect = checked_row_mask(protect, rows)
        kept, lo, hi, vmin, vmax = kernel(ptr(flat), flat.numel(), ptr(idx), 0 if idx is None else idx.numel(),
                                          ptr(protect), flat.numel() // max(rows, 1), float(self.tail))
        if kept == 0:
            return None
        as_tensor = partial(torch.tensor, dtype=torch.float32)
        return self.uncollapse(as_tensor(lo), as_tensor(hi), lambda: (as_tensor(vmin), as_tensor(vmax)))

    @staticmethod
    def uncollapse(lo: torch.Tensor, hi: torch.Tensor, extremes) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse data: when fewer than ``tail`` of the values are non-zero on a side, that side's quantile is 0
        and clipping there would quantize every non-zero value to 0 (GIN's first aggregation of CiteSeer's
        bag-of-words features, under 1% non-zero). Such a collapsed side takes the sample's extreme instead
        (``extremes()``: the sample's min and max, asked for only then)."""
        hi_collapsed, lo_collapsed = bool(hi == 0), bool(lo == 0)
        if hi_collapsed or lo_collapsed:
            vmin, vmax = extremes()
            if hi_collapsed:
                hi = torch.maximum(hi, vmax)
            if lo_collapsed:
                lo = torch.minimum(lo, vmin)
        return lo, hi

    def combine(self, lo, hi):
        if self.momentum is None:
            torch.minimum(self.lo, lo, out=self.lo)
            torch.maximum(self.hi, hi, out=self.hi)
            return
        average_into(self, lo, hi, None if self.momentum == "mean" else self.momentum)

    def extra_repr(self) -> str:
        return f"tail={self.tail}, momentum={self.momentum}, sample_size={self.sample_size}"


OBSERVERS = {"current": Observer, "minmax": MinMaxObserver, "momentum": MomentumObserver,
             "percentile": PercentileObserver}
