"""The frozen description of a quantized model: integer weights, per-tensor qparams, float state.

It is the hand-off to the integer engine and what bit-exactness tests compare against (``simulate()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dqbench.bits import FP32_BITS
from dqbench.quant.fake_quant import quantize
from dqbench.quant.qparams import QParams

WEIGHT_SUFFIX = ".lin.weight"  # a QLinear at "<path>" keeps its weight at "<path>.lin.weight"


@dataclass
class QTensor:
    """Integer codes (int8 storage, also for fewer bits; int32 for biases) and their qparams."""

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

    def _float_params(self) -> dict[str, torch.Tensor]:
        """Float tensors kept as they are (everything but the quantized weights; no integer counters)."""
        return {k: v for k, v in self.float_state.items() if k not in self.weights and v.is_floating_point()}

    def size_bytes(self) -> int:
        """Integer weights packed at their bit width (+ 8 bytes of qparams each), float tensors at 4 bytes,
        8 bytes per activation qparams."""
        size = sum((w.values.numel() * w.qparams.bits + 7) // 8 + 8 for w in self.weights.values())
        size += sum(4 * v.numel() for v in self._float_params().values())
        return int(size + 8 * len(self.activations))

    def avg_bits(self) -> float:
        """Parameter-weighted average bit width over all stored tensors (float ones count 32); the activations'
        average, weighted by elements, is ``activation_profile``'s."""
        quantized = sum(w.values.numel() for w in self.weights.values())
        bits = sum(w.values.numel() * w.qparams.bits for w in self.weights.values())
        floats = sum(v.numel() for v in self._float_params().values())
        return (bits + FP32_BITS * floats) / max(quantized + floats, 1)

    def bitops(self, input_bits: dict[str, int] | None = None) -> float:
        """Estimated BitOPs per row of the dense layers: sum over linear weights of MACs x weight bits x input
        bits; ``input_bits`` (from ``activation_profile``) gives each linear's own input width, else the model's
        activation bits (32 for float layers). Aggregation is not counted."""
        total = 0.0
        for name, value in self.float_state.items():
            if not name.endswith(WEIGHT_SUFFIX):
                continue
            if name in self.weights:
                a_bits = (input_bits or {}).get(name) or min(self.bits, FP32_BITS)
                total += value.numel() * self.weights[name].qparams.bits * a_bits
            else:
                total += value.numel() * FP32_BITS * FP32_BITS
        return total

    @torch.no_grad()
    def activation_profile(self, batches) -> tuple[float, dict[str, float]]:
        """One pass of the simulated model over ``batches``: the average activation width weighted by the
        elements each activation point quantizes (unfilled points count 32), and each linear's input width
        (the width of the last activation quantized before it; per-row widths: their mean)."""
        from dqbench.quant.a2q import FixedRowQuantize
        from dqbench.quant.quantizer import FixedQuantize

        model = self.simulate()
        totals = [0.0, 0]  # bits x elements, elements
        last: list = [None]
        inputs: dict[str, float] = {}

        def seen(bits):
            def hook(module, args, out):
                x = args[0]
                if isinstance(module, FixedRowQuantize):  # a width per row
                    per_row = x[0].numel() if x.numel() else 0
                    row_bits = module.element_bits(x).double()
                    b_el, n = float(row_bits.sum()) * per_row, x.numel()
                    width = b_el / n if n else None
                else:
                    b_el, n, width = float(bits * x.numel()), x.numel(), bits
                totals[0] += b_el
                totals[1] += n
                if width is not None:
                    last[0] = width
            return hook

        def reads(key):
            def hook(module, args):  # a pre-hook: must return None (a value would replace the inputs)
                inputs.setdefault(key, last[0])
            return hook

        hooks = []
        for point in model.quant_points():
            if point.kind == "param":  # the layer owning the weight: what it reads is its input
                owner = model.get_submodule(point.path)
                hooks.append(owner.register_forward_pre_hook(reads(f"{point.path}{WEIGHT_SUFFIX}")))
            else:  # filled or not (an unfilled point passes 32-bit values)
                mod = model.get_quantizer(point.path, point.role)
                hooks.append(mod.register_forward_hook(seen(mod.qp.bits if isinstance(mod, FixedQuantize)
                                                            else FP32_BITS)))
        try:
            for batch in batches:
                model(batch)
        finally:
            for h in hooks:
                h.remove()
        avg = totals[0] / totals[1] if totals[1] else float(FP32_BITS)
        return avg, {k: v for k, v in inputs.items() if v is not None}

    def simulate(self):
        """The fake-quantized model in eval mode: what the integer engine must reproduce."""
        from dqbench.quant.a2q import FixedRowQuantize, RowQParams
        from dqbench.quant.quantizer import FixedQuantize
        from dqbench.registry import ARCHS

        model = ARCHS.get(self.arch)(**self.arch_kwargs)
        state = model.state_dict()
        state.update({k: v for k, v in self.float_state.items() if k in state})
        model.load_state_dict(state)
        for key, qp in self.activations.items():
            path, role = key.rsplit(":", 1)
            model.set_quantizer(path, role, FixedRowQuantize(qp) if isinstance(qp, RowQParams) else FixedQuantize(qp))
        for name, w in self.weights.items():
            model.set_quantizer(name[: -len(WEIGHT_SUFFIX)], "weight", FixedQuantize(w.qparams))
        return model.eval()


def storage_dtype(qp: QParams) -> torch.dtype:
    """int8 holds every signed width and unsigned up to 7 bits; unsigned 8-bit codes need uint8."""
    return torch.uint8 if not qp.signed and qp.bits == 8 else torch.int8


@torch.no_grad()
def convert_model(model, method: str, bits: int) -> ConvertedModel:
    """Freeze every filled role of ``model``: integer weights for weight points, qparams for activation points.
    Roles whose quantizer never observed anything (they pass values through) are left out."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if ".quant." not in k}
    conv = ConvertedModel(arch=model.arch_name, arch_kwargs=dict(model.arch_kwargs), method=method, bits=bits,
                          float_state=state)
    for point in model.quant_points():
        quantizer = model.get_quantizer(point.path, point.role)
        if not hasattr(quantizer, "qparams"):
            continue
        if point.kind == "param":
            weight = model.get_submodule(point.path).weight.detach()
            if getattr(quantizer, "dynamic", False) and not quantizer.frozen:
                quantizer.observer(weight)  # the range of the weight as it is now
        observer = getattr(quantizer, "observer", None)
        if observer is not None and not bool(observer.initialized):
            continue
        if not bool(getattr(quantizer, "initialized", True)):  # a learned quantizer that never saw values
            continue
        qp = quantizer.qparams()
        if point.kind == "param":
            codes = quantize(weight, qp.scale, qp.zero_point, qp.qmin, qp.qmax)
            conv.weights[f"{point.path}{WEIGHT_SUFFIX}"] = QTensor(codes.to(storage_dtype(qp)), qp)
        else:
            conv.activations[f"{point.path}:{point.role}"] = qp
    return conv
