"""Integer-engine backends in the registry: the compiled core's paths and the pure-PyTorch fallback."""

from __future__ import annotations

from dataclasses import dataclass

from dqbench.registry import BACKENDS

DESCRIPTIONS = {
    "vnni": "compiled C++ core, AVX-512 VNNI (vpdpbusd) int8 GEMM and CSR SpMM, OpenMP",
    "avx2": "compiled C++ core, AVX2 paths, OpenMP",
    "scalar": "compiled C++ core, portable scalar code, OpenMP",
    "torch": "pure-PyTorch integer path, bit-identical to the compiled core (DQBENCH_ENGINE=torch)",
}


@dataclass(frozen=True)
class Backend:
    """An engine code path; ``available()`` says whether it can run on this machine and build."""

    name: str
    __doc__: str

    def available(self) -> bool:
        from dqbench.engine.kernels import runs_here

        return runs_here(self.name)


for _name, _doc in DESCRIPTIONS.items():
    BACKENDS.register(_name, Backend(_name, _doc))
