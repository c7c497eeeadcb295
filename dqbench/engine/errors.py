"""The engine's error type."""

from dqbench.errors import DQBenchError


class LoweringError(DQBenchError):
    """A model (or one of its ops) the integer engine cannot lower; the message names the op."""
