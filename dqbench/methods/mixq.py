"""MixQ-style mixed-precision search (Moustafa et al., ICDE 2025): each quantization point chooses its bit width.

Search phase (the first ``search_epochs``, default half of the training epochs): every point mixes fake-quantized
copies at its candidate widths with softmax weights (``dqbench.quant.mixq``); the loss is the task loss plus
``size_lambda`` times the expected average width in bits (weights weighted by parameters, activations by the
elements of the last forward), so larger lambdas buy smaller models. Then each point keeps its most probable
width and training continues at those fixed widths (fine-tuning); model selection only sees fixed-width models.
The trial's ``bits`` is the widest candidate (default candidates: 2, 4, 8 up to ``bits``); the record's
``avg_bits`` / ``act_avg_bits`` say what the search kept. Points named in ``role_bits`` are not searched.
"""

from __future__ import annotations

import torch

from dqbench.errors import DQBenchError
from dqbench.methods.base import Method, fill_roles, momentum_quantizer, signed_for, weight_quantizer
from dqbench.methods.qat import QAT_MOMENTUM
from dqbench.quant.mixq import MixQuantize
from dqbench.quant.observers import MomentumObserver, Observer
from dqbench.quant.qparams import check_bits
from dqbench.registry import METHODS

DEFAULT_CANDIDATES = (2, 4, 8)


def mix_quantizers(model) -> list[MixQuantize]:
    return [m for m in model.modules() if isinstance(m, MixQuantize)]


def expected_avg_bits(model) -> torch.Tensor | None:
    """The expected width over the searching points, each weighted by the elements it quantized last."""
    qs = [q for q in mix_quantizers(model) if q.searching and q.elements]
    if not qs:
        return None
    total = sum(q.elements for q in qs)
    return sum(q.expected_bits() * q.elements for q in qs) / total


@METHODS.register("mixq")
class MixQ(Method):
    """Relaxed bit-width search over ``candidates`` per point with a size penalty ``size_lambda``, then
    fixed-width fine-tuning (see the module docstring)."""

    name = "mixq"
    version = "1"

    def __init__(self, bits: int = 8, candidates: list[int] | None = None, size_lambda: float = 0.1,
                 search_epochs: int | None = None, momentum: float = QAT_MOMENTUM, role_bits: dict | None = None):
        super().__init__(bits, role_bits)
        cands = [b for b in DEFAULT_CANDIDATES if b <= self.bits] if candidates is None else candidates
        if not isinstance(cands, (list, tuple)) or not cands:
            raise DQBenchError(f"mixq candidates must be a non-empty list of bit widths, got {candidates!r}")
        self.candidates = tuple(sorted({check_bits(b) for b in cands}))
        if self.candidates[-1] != self.bits:
            raise DQBenchError(f"mixq: the trial's bits ({self.bits}) must be the widest candidate "
                               f"(candidates {list(self.candidates)})")
        if isinstance(size_lambda, bool) or not isinstance(size_lambda, (int, float)) or not size_lambda >= 0:
            raise DQBenchError(f"mixq size_lambda must be a number >= 0, got {size_lambda!r}")
        if search_epochs is not None and (isinstance(search_epochs, bool) or not isinstance(search_epochs, int)
                                          or search_epochs < 1):
            raise DQBenchError(f"mixq search_epochs must be a positive integer, got {search_epochs!r}")
        self.size_lambda, self.search_epochs, self.momentum = float(size_lambda), search_epochs, momentum
        MomentumObserver(momentum)  # validates momentum now

    def search_end(self, epochs: int) -> int:
        """The number of search epochs for a run of ``epochs`` (at least 1, at most epochs - 1 when possible)."""
        n = self.search_epochs if self.search_epochs is not None else epochs // 2
        return max(1, min(n, epochs - 1)) if epochs > 1 else 1

    def _point(self, p):
        if p.role in self.role_bits or f"{p.path}:{p.role}" in self.role_bits:  # given a width: not searched
            bits = self.bits_for(p)
            return weight_quantizer(bits) if p.kind == "param" else momentum_quantizer(bits, p.kind, self.momentum)
        if p.kind == "param":
            return MixQuantize(self.candidates, True, Observer(), dynamic=True)
        return MixQuantize(self.candidates, signed_for(p.kind), MomentumObserver(self.momentum))

    def prepare(self, model):
        fill_roles(model, self._point)
        return model

    def penalty(self, model):
        expected = expected_avg_bits(model)
        return None if expected is None or self.size_lambda == 0 else self.size_lambda * expected

    def end_epoch(self, model, epoch: int, epochs: int) -> None:
        if epoch + 1 == self.search_end(epochs):
            for q in mix_quantizers(model):
                q.fix()

    def selectable(self, epoch: int, epochs: int) -> bool:
        return epoch + 1 >= self.search_end(epochs)

    def convert(self, model):
        for q in mix_quantizers(model):  # a run shorter than its search (or no training): keep the argmax
            if q.searching:
                q.fix()
        return super().convert(model)
