"""Mixed precision: bit widths per role (``weight``, ``aggregate``, ...) and per quantization point
(``"convs.0:aggregate"``, ``"convs.1.lin:weight"``), over a method's default width.

A point takes its own entry if there is one, else its role's, else the method's ``bits``. Keys and widths are
checked when the method is built (roles, 2-8 bits) and against each arch when a suite is loaded (points).
"""

from __future__ import annotations

from dqbench.errors import DQBenchError
from dqbench.quant.qparams import MAX_BITS, MIN_BITS

ROLES = ("input", "weight", "linear", "message", "aggregate", "update", "attention")  # the archs' roles


def check_role_bits(role_bits) -> dict[str, int]:
    """``role_bits`` as a dict of key -> width; a DQBenchError naming the bad key or width."""
    if role_bits is None:
        return {}
    if not isinstance(role_bits, dict):
        raise DQBenchError(f"role_bits must be a table of role (or 'path:role') = bits, got {role_bits!r}")
    out = {}
    for key, bits in role_bits.items():
        role = key.rsplit(":", 1)[-1] if isinstance(key, str) else None
        if role not in ROLES or (":" in key and not key.split(":", 1)[0]):
            raise DQBenchError(f"role_bits key {key!r}: unknown role; use one of {', '.join(ROLES)}, or "
                               "'path:role' for one quantization point (e.g. 'convs.0:aggregate')")
        if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
            raise DQBenchError(f"role_bits {key!r} = {bits!r}: use an integer from {MIN_BITS} to {MAX_BITS}")
        out[key] = bits
    return out


def bits_for(role_bits: dict[str, int], default: int, path: str, role: str) -> int:
    """The width of point ``path:role``: its own entry, else its role's, else ``default``."""
    return role_bits.get(f"{path}:{role}", role_bits.get(role, default))


def check_points(role_bits: dict[str, int], points: set[str], arch: str) -> None:
    """Every 'path:role' key must name one of the arch's quantization ``points``."""
    for key in role_bits:
        if ":" in key and key not in points:
            raise DQBenchError(f"role_bits key {key!r}: {arch} has no such quantization point; "
                               f"valid: {', '.join(sorted(points))}")
