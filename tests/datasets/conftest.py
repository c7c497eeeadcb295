"""Dataset-test fixtures: snapshot folders to prove they were not written; slow tests only on request."""

from __future__ import annotations

import os

import pytest


def _snapshot(folder) -> dict:
    out = {".": folder.stat().st_mtime_ns}
    for p in sorted(folder.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(folder))] = (st.st_size if p.is_file() else -1, st.st_mtime_ns)
    return out


@pytest.fixture
def snapshot():
    """``snapshot(folder)``: every path under it with size and mtime."""
    return _snapshot


@pytest.fixture(autouse=True)
def _skip_slow(request):
    """Tests marked slow (first processing of REDDIT-BINARY, ~30 s) run only with ``-m slow`` or DQBENCH_SLOW=1."""
    if request.node.get_closest_marker("slow") is None:
        return
    if os.environ.get("DQBENCH_SLOW") != "1" and "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow: run with -m slow or DQBENCH_SLOW=1")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No internet connection from dataset tests, whatever the client: PyG downloads through fsspec/aiohttp, which
    ignores the proxy variables, so refuse DNS look-ups and IP connections at the socket level."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled in dqbench tests")

    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse()
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", connect)
