"""Degree-Quant (Tailor et al., ICLR 2021): stochastic protective masks whose probability rises with in-degree,
percentile range tracking, gradients zeroed where values saturate; every node is quantized at inference.

Each part can be switched off for ablations; a part that is off falls back to naive QAT's behaviour
(``masking=False``: nothing protected; ``percentile=False``: momentum min/max; ``clip_grad=False``: STE).
"""

from __future__ import annotations

import torch

from dqbench.errors import DQBenchError
from dqbench.methods.base import Method, activation_quantizer, fill_roles, momentum_quantizer, weight_quantizer
from dqbench.methods.qat import QAT_MOMENTUM
from dqbench.quant.observers import PercentileObserver
from dqbench.registry import METHODS

DEFAULT_P = {8: (0.0, 0.1), 4: (0.1, 0.2)}  # (p_min, p_max) recommended by the paper; < 8 bits use INT4's
DEFAULT_TAIL = {8: 0.001, 4: 0.01}  # percentile tails: 0.1% at INT8, 1% at fewer bits


def protection_probability(in_degree: torch.Tensor, p_min: float, p_max: float) -> torch.Tensor:
    """p_i = p_min + (p_max - p_min) * rank_i / (n - 1), rank_i = number of nodes with a smaller in-degree:
    monotone non-decreasing in in-degree, equal degrees get equal probability, always within [p_min, p_max]."""
    n = in_degree.numel()
    if n == 0:
        return torch.zeros(0)
    sorted_deg = torch.sort(in_degree).values
    rank = torch.searchsorted(sorted_deg, in_degree, right=False).float()
    return (p_min + (p_max - p_min) * rank / max(n - 1, 1)).clamp_(p_min, p_max)


def with_protection_probability(data, p_min: float, p_max: float):
    """A shallow copy of ``data`` with ``dq_prob``, each node's protection probability from its in-degree rank."""
    from torch_geometric.utils import degree

    data = data.clone()
    data.dq_prob = protection_probability(degree(data.edge_index[1], data.num_nodes), p_min, p_max)
    return data


def sample_protection(data) -> torch.Tensor:
    """The training-time protective mask: node i is protected with probability ``data.dq_prob[i]``."""
    prob = getattr(data, "dq_prob", None)
    if prob is None:
        raise DQBenchError("degree_quant: the graph has no protection probabilities; "
                           "pass each graph through method.transform(data) before training")
    return torch.bernoulli(prob).bool()


def protection_range(method: str, bits: int, p_min: float | None, p_max: float | None) -> tuple[float, float]:
    """(p_min, p_max): the given ones, else the paper's for ``bits``; a DQBenchError unless 0 <= p_min <= p_max <= 1."""
    lo, hi = _defaults(bits, DEFAULT_P)
    lo, hi = lo if p_min is None else float(p_min), hi if p_max is None else float(p_max)
    if not 0.0 <= lo <= hi <= 1.0:
        raise DQBenchError(f"{method} needs 0 <= p_min <= p_max <= 1, got p_min={lo}, p_max={hi}")
    return lo, hi


def _defaults(bits: int, table: dict):
    return table[8] if bits >= 8 else table[4]


@METHODS.register("degree_quant")
class DegreeQuant(Method):
    """Degree-Quant: in-degree-aware stochastic protection (training only), percentile ranges, clipped gradients.

    ``momentum``: None (default, as the original) keeps the running extremes of the per-batch percentiles; a float
    tracks them with an EMA. With ``percentile=False`` it is the min/max EMA momentum (default: qat's 0.01).
    ``input_tail`` (default 0: full range) is the tail at the layers' node ``input`` roles: the first one sees the
    raw features, often sparse one-hot or bag-of-words, where a 1% tail is 0 and would quantize every feature
    to 0 (measured on Cora, GCN INT4: 32% test accuracy with the 1% tail, 79% with the full range).
    ``edge_tail`` (default: ``tail``) is the tail at edge-kind roles (GCN edge weights, GAT attention
    coefficients): values bounded in [0, 1] that have no outliers to clip. ``observe_protected`` (default False,
    as the original, whose low-precision quantizers only ever see the unprotected rows) lets the protected rows
    update the ranges as well: every node is quantized at inference, the protected ones included.
    ``clamp_protected`` (default False: protected rows pass unclamped, as the original) clamps the protected rows
    to each quantizer's range without rounding them, so their values cannot widen the ranges that the following
    quantizers observe on their neighbours (the protection then spares them rounding only, not saturation)."""

    name = "degree_quant"
    version = "1"

    def __init__(self, bits: int = 8, p_min: float | None = None, p_max: float | None = None,
                 tail: float | None = None, momentum: float | None = None, sample_size: int = 8192,
                 masking: bool = True, percentile: bool = True, clip_grad: bool = True, input_tail: float = 0.0,
                 edge_tail: float | None = None, observe_protected: bool = False, clamp_protected: bool = False,
                 role_bits: dict | None = None):
        super().__init__(bits, role_bits)
        self.p_min, self.p_max = protection_range("degree_quant", self.bits, p_min, p_max)
        self.tail = _defaults(self.bits, DEFAULT_TAIL) if tail is None else float(tail)
        self.input_tail = float(input_tail)
        self.edge_tail = self.tail if edge_tail is None else float(edge_tail)
        self.momentum, self.sample_size = momentum, int(sample_size)
        if self.sample_size < 16:
            raise DQBenchError(f"degree_quant sample_size must be at least 16, got {sample_size}")
        self.masking, self.percentile, self.clip_grad = bool(masking), bool(percentile), bool(clip_grad)
        self.observe_protected, self.clamp_protected = bool(observe_protected), bool(clamp_protected)
        PercentileObserver(self.input_tail)  # validates tails and momentum now, not mid-run
        PercentileObserver(self.edge_tail)
        PercentileObserver(self.tail, self.momentum)
        self._activation("node")

    @property
    def backward(self) -> str:
        return "clip" if self.clip_grad else "ste"

    def transform(self, data):
        """A shallow copy of ``data`` with ``dq_prob``: each node's protection probability from its in-degree rank."""
        return with_protection_probability(data, self.p_min, self.p_max) if self.masking else data

    def _activation(self, kind: str, role: str = "", bits: int | None = None):
        bits = self.bits if bits is None else bits
        if not self.percentile:
            momentum = QAT_MOMENTUM if self.momentum is None else self.momentum
            quantizer = momentum_quantizer(bits, kind, momentum, self.backward)
        else:
            tail = self.input_tail if (role, kind) == ("input", "node") else self.edge_tail if kind == "edge" \
                else self.tail
            observer = PercentileObserver(tail, self.momentum, self.sample_size)
            quantizer = activation_quantizer(bits, kind, observer, self.backward)
        quantizer.observe_protected, quantizer.clamp_protected = self.observe_protected, self.clamp_protected
        return quantizer

    def prepare(self, model):
        fill_roles(model, lambda p: weight_quantizer(self.bits_for(p), self.backward) if p.kind == "param"
                   else self._activation(p.kind, p.role, self.bits_for(p)))
        model.protector = sample_protection if self.masking else None
        return model
