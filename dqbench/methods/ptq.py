"""Post-training quantization: train in FP32, calibrate range observers on training data, evaluate quantized."""

from __future__ import annotations

import torch

from dqbench.errors import DQBenchError
from dqbench.methods.base import Method, fill_roles, signed_for, weight_quantizer
from dqbench.quant.observers import MinMaxObserver, PercentileObserver
from dqbench.quant.quantizer import FakeQuantize
from dqbench.registry import METHODS


@METHODS.register("ptq")
class PTQ(Method):
    """Post-training quantization: FP32 training, then min/max (or percentile) calibration on the training data."""

    name = "ptq"

    def __init__(self, bits: int = 8, observer: str = "minmax", tail: float = 0.001):
        super().__init__(bits)
        if observer not in ("minmax", "percentile"):
            raise DQBenchError(f"ptq observer must be 'minmax' or 'percentile', got {observer!r}")
        self.observer, self.tail = observer, tail

    def _activation(self, kind: str) -> FakeQuantize:
        obs = MinMaxObserver() if self.observer == "minmax" else PercentileObserver(self.tail, momentum=0.5)
        return FakeQuantize(self.bits, signed=signed_for(kind), observer=obs)

    @torch.no_grad()
    def calibrate(self, model, batches) -> None:
        fill_roles(model, lambda p: weight_quantizer(self.bits) if p.kind == "param" else self._activation(p.kind))
        quantizers = [m for m in model.modules() if isinstance(m, FakeQuantize)]
        model.eval()
        for q in quantizers:
            q.calibrating = True
        for batch in batches:
            model(batch)
        for q in quantizers:
            q.calibrating = False
