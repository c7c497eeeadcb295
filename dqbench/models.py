"""A trial's model and method, built from its configuration (``TrialSpec.config()`` or a record's ``config``): the
one place that does it, used by the runner, the latency harness, ``trace``, ``analyze`` and the scripts."""

from __future__ import annotations

from dqbench.bits import FP32_BITS
from dqbench.registry import ARCHS, METHODS


def method_kwargs(config: dict) -> dict:
    """The method factory's keyword arguments: the entry's options, and ``bits`` unless the trial is FP32."""
    kwargs = dict(config.get("method_kwargs", {}))
    if config["bits"] != FP32_BITS:
        kwargs["bits"] = config["bits"]
    return kwargs


def build_method(config: dict):
    """The registered method the configuration names, with its options and bit width."""
    return METHODS.get(config["method_name"])(**method_kwargs(config))


def build_model(config: dict, dataset):
    """The registered arch the configuration names, sized for ``dataset``, with the entry's options."""
    return ARCHS.get(config["arch_name"])(in_channels=dataset.num_features, out_channels=dataset.out_channels,
                                          task=dataset.task, **config.get("arch_kwargs", {}))
