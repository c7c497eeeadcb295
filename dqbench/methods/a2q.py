"""A²Q (Zhu et al., ICLR 2023; code weihai-98/A-2Q): aggregation-aware quantization with a learned step size and
bit width per node (node tasks) or per nearest-neighbour group (graph tasks) at every node-kind activation point
(``dqbench.quant.a2q``). Weights and edge-kind points use LSQ at the trial's ``bits``.

Loss: task loss + ``memory_lambda`` * relu(M - ``target_bits``)^2, M the average width of the node features
quantized in the last forward (the paper's memory size of node features, expressed per element so that the
target is in bits); with ``local_gradient`` (node tasks), the squared quantization error of each point trains its
steps and widths instead of the task loss. Widths start at ``bits`` and stay within 2-8 bits.

The integer engine cannot lower these models (a step per node; see the latency skip reason). Unlike the original
code, which selects the test-best epoch, trials select on the validation split like every other method.
"""

from __future__ import annotations

import torch

from dqbench.errors import DQBenchError
from dqbench.methods.base import Method, fill_roles, signed_for
from dqbench.quant.a2q import A2qQuantize
from dqbench.quant.lsq import LsqQuantize
from dqbench.quant.qparams import MAX_BITS, MIN_BITS
from dqbench.registry import METHODS


def a2q_quantizers(model) -> list[A2qQuantize]:
    return [m for m in model.modules() if isinstance(m, A2qQuantize)]


@METHODS.register("a2q")
class A2Q(Method):
    """Learned per-node (or per-group) steps and widths, memory penalty; see the module docstring."""

    name = "a2q"
    version = "1"

    def __init__(self, bits: int = 4, target_bits: float = 4.0, memory_lambda: float = 0.1, groups: int = 10,
                 local_gradient: bool = False, role_bits: dict | None = None):
        super().__init__(bits, role_bits)
        if isinstance(target_bits, bool) or not isinstance(target_bits, (int, float)) or \
                not MIN_BITS <= target_bits <= MAX_BITS:
            raise DQBenchError(f"a2q target_bits must be a number from {MIN_BITS} to {MAX_BITS}, got {target_bits!r}")
        if isinstance(memory_lambda, bool) or not isinstance(memory_lambda, (int, float)) or not memory_lambda >= 0:
            raise DQBenchError(f"a2q memory_lambda must be a number >= 0, got {memory_lambda!r}")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise DQBenchError(f"a2q groups must be a positive integer, got {groups!r}")
        if not isinstance(local_gradient, bool):
            raise DQBenchError(f"a2q local_gradient must be true or false, got {local_gradient!r}")
        self.target_bits, self.memory_lambda = float(target_bits), float(memory_lambda)
        self.groups, self.local_gradient = groups, local_gradient
        self.num_nodes: int | None = None

    def transform(self, data):
        """Remembers the node count (a node task's one graph sizes the per-node parameters)."""
        self.num_nodes = int(data.num_nodes)
        return data

    def _point(self, p, node_task: bool):
        bits = self.bits_for(p)
        if p.kind != "node":
            return LsqQuantize(bits, signed=signed_for(p.kind), may_unsign=p.kind != "param")
        if node_task:
            if self.num_nodes is None:
                raise DQBenchError("a2q: pass the graph through method.transform(data) before prepare (node tasks "
                                   "learn one step and width per node)")
            return A2qQuantize(bits, rows=self.num_nodes, local_gradient=self.local_gradient)
        return A2qQuantize(bits, groups=self.groups)

    def prepare(self, model):
        node_task = getattr(model, "task", "node") == "node"
        fill_roles(model, lambda p: self._point(p, node_task))
        return model

    def penalty(self, model):
        qs = [q for q in a2q_quantizers(model) if q.elements_by_row is not None]
        if not qs:
            return None
        terms = []
        if self.memory_lambda > 0:
            elements = sum(q.elements for q in qs)
            avg = sum(q.memory_bits() for q in qs) / max(elements, 1)
            terms.append(self.memory_lambda * torch.relu(avg - self.target_bits) ** 2)
        terms += [q.local_loss for q in qs if q.local_loss is not None]
        return sum(terms) if terms else None
