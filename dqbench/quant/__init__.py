"""Quantization core: fake quantization, observers, quantizer modules and the converted-model description."""

from dqbench.quant.converted import ConvertedModel, QTensor, convert_model
from dqbench.quant.fake_quant import dequantize, fake_quantize, quantize
from dqbench.quant.observers import OBSERVERS, MinMaxObserver, MomentumObserver, Observer, PercentileObserver
from dqbench.quant.qparams import QParams, check_bits
from dqbench.quant.quantizer import FakeQuantize, FixedQuantize

__all__ = ["ConvertedModel", "QTensor", "convert_model", "dequantize", "fake_quantize", "quantize", "OBSERVERS",
           "MinMaxObserver", "MomentumObserver", "Observer", "PercentileObserver", "QParams", "check_bits",
           "FakeQuantize", "FixedQuantize"]
