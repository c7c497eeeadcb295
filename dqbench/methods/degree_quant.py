"""Degree-Quant (Tailor et al., ICLR 2021): stochastic protective masks rising with in-degree, percentile range
tracking, gradients zeroed where values saturate; every node quantized at inference."""

from __future__ import annotations

import torch

from dqbench.errors import DQBenchError
from dqbench.methods.base import Method, fill_roles, momentum_quantizer, signed_for, weight_quantizer
from dqbench.quant.observers import PercentileObserver
from dqbench.quant.quantizer import FakeQuantize
from dqbench.registry import METHODS

DEFAULT_P = {8: (0.0, 0.1), 4: (0.1, 0.2)}  # (p_min, p_max) by bit width, as recommended by the paper
DEFAULT_TAIL = {8: 0.001, 4: 0.01}


def protection_probability(in_degree: torch.Tensor, p_min: float, p_max: float) -> torch.Tensor:
    """p_i = p_min + (p_max - p_min) * (fraction of nodes with a smaller in-degree): monotone in in-degree."""
    n = in_degree.numel()
    if n == 0:
        return torch.zeros(0)
    sorted_deg = torch.sort(in_degree).values
    below = torch.searchsorted(sorted_deg, in_degree, right=False).float()
    return p_min + (p_max - p_min) * below / max(n - 1, 1)


def sample_protection(data) -> torch.Tensor:
    """The training-time protective mask: node i is protected with probability ``data.dq_prob[i]``."""
    return torch.bernoulli(data.dq_prob).bool()


@METHODS.register("degree_quant")
class DegreeQuant(Method):
    """Degree-Quant: in-degree-aware stochastic protection (training only), percentile ranges, clipped gradients.
    Each part can be switched off for ablations (masking, percentile, clip_grad)."""

    name = "degree_quant"

    def __init__(self, bits: int = 8, p_min: float | None = None, p_max: float | None = None,
                 tail: float | None = None, momentum: float = 0.01, masking: bool = True, percentile: bool = True,
                 clip_grad: bool = True):
        super().__init__(bits)
        lo, hi = DEFAULT_P.get(bits, DEFAULT_P[4] if bits < 8 else DEFAULT_P[8])
        self.p_min = lo if p_min is None else p_min
        self.p_max = hi if p_max is None else p_max
        if not 0.0 <= self.p_min <= self.p_max <= 1.0:
            raise DQBenchError(f"degree_quant needs 0 <= p_min <= p_max <= 1, got p_min={self.p_min}, "
                               f"p_max={self.p_max}")
        self.tail = (DEFAULT_TAIL[8] if bits >= 8 else DEFAULT_TAIL[4]) if tail is None else tail
        if not 0.0 <= self.tail < 0.5:
            raise DQBenchError(f"degree_quant tail must be in [0, 0.5), got {self.tail}")
        self.momentum = momentum
        self.masking, self.percentile, self.clip_grad = masking, percentile, clip_grad

    def transform(self, data):
        if self.masking:
            from torch_geometric.utils import degree

            data = data.clone()
            data.dq_prob = protection_probability(degree(data.edge_index[1], data.num_nodes), self.p_min, self.p_max)
        return data

    def _activation(self, kind: str):
        backward = "clip" if self.clip_grad else "ste"
        if not self.percentile:
            return momentum_quantizer(self.bits, kind, self.momentum, backward)
        return FakeQuantize(self.bits, signed=signed_for(kind),
                            observer=PercentileObserver(self.tail, self.momentum), backward=backward)

    def prepare(self, model):
        backward = "clip" if self.clip_grad else "ste"
        fill_roles(model, lambda p: weight_quantizer(self.bits, backward) if p.kind == "param"
                   else self._activation(p.kind))
        model.protector = sample_protection if self.masking else None
        return model
