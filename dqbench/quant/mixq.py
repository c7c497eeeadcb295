"""A relaxed bit-width choice at one quantization point (MixQ-style, Moustafa et al., ICDE 2025).

While searching, the point's output is a mixture of fake-quantized copies of its input, one per candidate width,
weighted by softmax(alpha); ``expected_bits()`` is differentiable in alpha, so a size penalty on it trains the
choice. ``fix()`` then keeps the most probable width, and the point is an ordinary fixed-width quantizer. All
candidates share one observed range (weights: the current tensor's min/max; activations: an EMA of min/max, as
naive QAT). In eval mode a searching point already quantizes at its most probable width.
"""

from __future__ import annotations

import torch
from torch import nn

from dqbench.quant.fake_quant import fake_quantize
from dqbench.quant.observers import Observer
from dqbench.quant.qparams import QParams, check_bits


class MixQuantize(nn.Module):
    """Called as ``quantizer(x, protect=None)`` (``protect`` is ignored: MixQ protects no node)."""

    def __init__(self, candidates: tuple[int, ...], signed: bool, observer: Observer, dynamic: bool = False):
        super().__init__()
        self.candidates = tuple(sorted({check_bits(b) for b in candidates}))
        self.signed, self.observer, self.dynamic = bool(signed), observer, dynamic
        self.frozen = False
        self.alpha = nn.Parameter(torch.zeros(len(self.candidates)))
        self.register_buffer("chosen", torch.tensor(-1))  # index of the kept width once fixed
        self.elements = 0  # elements quantized in the last forward (weights the size penalty)

    @property
    def searching(self) -> bool:
        return int(self.chosen) < 0

    @property
    def bits(self) -> int:
        """The kept width; while searching, the most probable one."""
        index = int(self.chosen) if not self.searching else int(torch.argmax(self.alpha.detach()))
        return self.candidates[index]

    def probabilities(self) -> torch.Tensor:
        return torch.softmax(self.alpha, dim=0)

    def expected_bits(self) -> torch.Tensor:
        widths = torch.tensor(self.candidates, dtype=self.alpha.dtype)
        return (self.probabilities() * widths).sum()

    def fix(self) -> None:
        """End the search: keep the most probable width (ties: the narrowest)."""
        self.chosen.fill_(int(torch.argmax(self.alpha.detach())))

    def qparams(self, bits: int | None = None) -> QParams:
        return QParams.from_range(float(self.observer.lo), float(self.observer.hi), bits or self.bits, self.signed)

    def forward(self, x: torch.Tensor, protect: torch.Tensor | None = None) -> torch.Tensor:
        if not self.frozen and (self.training or self.dynamic):
            self.observer(x)
        if not bool(self.observer.initialized):
            return x
        self.elements = x.numel()
        if not self.searching or not self.training:  # eval: the most probable width, as it would be kept
            qp = self.qparams()
            return fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax)
        out = 0
        for p, bits in zip(self.probabilities(), self.candidates):
            qp = self.qparams(bits)
            out = out + p * fake_quantize(x, qp.scale, qp.zero_point, qp.qmin, qp.qmax)
        return out

    def extra_repr(self) -> str:
        state = f"bits={self.bits}" if not self.searching else "searching"
        return f"candidates={self.candidates}, signed={self.signed}, {state}"
