"""Example third-party dqbench plugin: registers a weight-only QAT method (W-INTn, activations in FP32).

dqbench finds it through the entry point ``example = "dqbench_example_plugin:register"`` in the group
``dqbench.plugins``; nothing in dqbench changes.
"""

from __future__ import annotations


def register() -> None:
    """Called by dqbench when it loads plugins."""
    from dqbench.methods.base import Method, fill_roles, weight_quantizer
    from dqbench.registry import METHODS

    @METHODS.register("weight_only_qat")
    class WeightOnlyQAT(Method):
        """Weight-only QAT: weights fake-quantized (STE), activations left in FP32 (a common deployment baseline)."""

        name = "weight_only_qat"

        def prepare(self, model):
            from dqbench.archs.base import Identity

            fill_roles(model, lambda p: weight_quantizer(self.bits) if p.kind == "param" else Identity())
            return model
