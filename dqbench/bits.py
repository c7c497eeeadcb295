"""Bit widths shared by every floor (no torch): FP32 is written as 32 bits in configurations and records."""

FP32_BITS = 32
