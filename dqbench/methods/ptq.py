"""Post-training quantization: train in FP32, calibrate range observers on training data, evaluate quantized."""

from __future__ import annotations

import torch

from dqbench.errors import DQBenchError
from dqbench.methods.base import Method, activation_quantizer, fill_roles, quantizers, weight_quantizer
from dqbench.methods.degree_quant import DEFAULT_TAIL
from dqbench.quant.observers import MinMaxObserver, PercentileObserver
from dqbench.registry import METHODS

PTQ_OBSERVERS = ("minmax", "percentile")


@METHODS.register("ptq")
class PTQ(Method):
    """Post-training quantization: FP32 training, then min/max (or percentile, averaged over batches) calibration
    on the training batches; the ranges are frozen afterwards."""

    name = "ptq"
    version = "1"

    def __init__(self, bits: int = 8, observer: str = "minmax", tail: float | None = None,
                 role_bits: dict | None = None):
        super().__init__(bits, role_bits)
        if observer not in PTQ_OBSERVERS:
            raise DQBenchError(f"ptq observer must be one of {', '.join(PTQ_OBSERVERS)}, got {observer!r}")
        self.observer = observer
        self.tail = (DEFAULT_TAIL[8] if self.bits >= 8 else DEFAULT_TAIL[4]) if tail is None else float(tail)
        self._activation("node")  # validates tail now

    def _activation(self, kind: str, bits: int | None = None):
        obs = MinMaxObserver() if self.observer == "minmax" else PercentileObserver(self.tail, momentum="mean")
        return activation_quantizer(self.bits if bits is None else bits, kind, obs)

    @torch.no_grad()
    def calibrate(self, model, batches) -> None:
        """Install quantizers, run ``batches`` in eval mode observing only, then freeze the ranges."""
        fill_roles(model, lambda p: weight_quantizer(self.bits_for(p)) if p.kind == "param"
                   else self._activation(p.kind, self.bits_for(p)))
        qs = quantizers(model)
        model.eval()
        for q in qs:
            q.calibrating = True
        try:
            for batch in batches:
                model(batch)
        finally:
            for q in qs:
                q.calibrating = False
        for q in qs:
            q.freeze()
