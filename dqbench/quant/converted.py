"""The frozen description of a quantized model: integer weights, per-tensor qparams, float state.

It is the hand-off to the integer engine and what bit-exactness tests compare against (``simulate()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dqbench.quant.fake_quant import quantize
from dqbench.quant.qparams import QParams

FP32_BITS = 32


@dataclass
class QTensor:
    values: torch.Tensor
    qparams: QParams

    def dequantize(self) -> torch.Tensor:
        return (self.values.float() - self.qparams.zero_point) * self.qparams.scale


@dataclass
class ConvertedModel:
    arch: str
    arch_kwargs: dict
    method: str
    bits: int
    float_state: dict[str, torch.Tensor]
    weights: dict[str, QTensor] = field(default_factory=dict)
    activations: dict[str, QParams] = field(default_factory=dict)

    def _float_tensors(self) -> dict[str, torch.Tensor]:
        quantized = set(self.weights)
        return {k: v for k, v in self.float_state.items()
                if k not in quantized and v.is_floating_point()}

    def size_bytes(self) -> int:
        """Integer weights at their bit width (+ scale and zero point), everything else float32."""
        size = sum((w.values.numel() * w.qparams.bits + 7) // 8 + 8 for w in self.weights.values())
        size += sum(4 * v.numel() for v in self._float_tensors().values())
        return int(size + 8 * len(self.activations))

    def avg_bits(self) -> float:
        """Parameter-weighted average bit width."""
        total = sum(w.values.numel() for w in self.weights.values())
        bits = sum(w.values.numel() * w.qparams.bits for w in self.weights.values())
        floats = sum(v.numel() for v in self._float_tensors().values())
        return (bits + FP32_BITS * floats) / max(total + floats, 1)

    def bitops(self) -> float:
        """BitOPs per node of the dense layers: sum of MACs x weight bits x input-activation bits."""
        total = 0.0
        for name, w in self.weights.items():
            in_bits = self.bits if self.bits != FP32_BITS else FP32_BITS
            total += w.values.numel() * w.qparams.bits * in_bits
        for name, v in self.float_state.items():
            if name.endswith("lin.weight") and name not in self.weights:
                total += v.numel() * FP32_BITS * FP32_BITS
        return total

    def simulate(self):
        """The fake-quantized model in eval mode: what the integer engine must reproduce."""
        from dqbench.quant.quantizer import FixedQuantize
        from dqbench.registry import ARCHS

        model = ARCHS.get(self.arch)(**self.arch_kwargs)
        state = model.state_dict()
        state.update({k: v for k, v in self.float_state.items() if k in state})
        model.load_state_dict(state)
        for key, qp in self.activations.items():
            path, role = key.rsplit(":", 1)
            model.set_quantizer(path, role, FixedQuantize(qp))
        for name, w in self.weights.items():
            path = name.rsplit(".", 2)[0]  # "<QLinear path>.lin.weight"
            model.set_quantizer(path, "weight", FixedQuantize(w.qparams))
        return model.eval()


def convert_model(model, method: str, bits: int) -> ConvertedModel:
    """Freeze every filled role of ``model`` into integer weights and activation qparams."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if ".quant." not in k}
    conv = ConvertedModel(arch=model.arch_name, arch_kwargs=dict(model.arch_kwargs), method=method, bits=bits,
                          float_state=state)
    for point in model.quant_points():
        quantizer = model.get_quantizer(point.path, point.role)
        if not hasattr(quantizer, "qparams"):
            continue
        if hasattr(quantizer, "observer") and not bool(quantizer.observer.initialized):
            continue
        qp = quantizer.qparams()
        if point.kind == "param":
            weight = model.get_submodule(point.path).weight.detach()
            codes = quantize(weight, qp.scale, qp.zero_point, qp.qmin, qp.qmax)
            conv.weights[f"{point.path}.lin.weight"] = QTensor(codes.to(torch.int8 if qp.signed else torch.uint8), qp)
        else:
            conv.activations[f"{point.path}:{point.role}"] = qp
    return conv
