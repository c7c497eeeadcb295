"""User-facing errors: one line, says what to do; the CLI turns them into exit status 2."""


class DQBenchError(Exception):
    """A user mistake or a missing resource (not a bug)."""
