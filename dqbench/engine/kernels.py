"""Tensor-level integer kernels with two implementations that produce identical integers:
the compiled core (paths "vnni", "avx2", "scalar") and a pure-PyTorch path ("torch").

Every kernel ends in the same fused requantization epilogue (``Requant``): int32 accumulator -> float
(one multiply per channel) -> optional self term / bias / ReLU -> round-half-even quantization -> optional chain
of exact requantization steps (dequantize, bias, ReLU, quantize) -> optional per-channel 256-entry table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from dqbench.errors import DQBenchError
from dqbench.kernels import core, engine_env, ptr
from dqbench.quant.qparams import QParams

COMPILED_PATHS = ("vnni", "avx2", "scalar")
BACKENDS = (*COMPILED_PATHS, "torch")
MAX_HEADS = 16  # per-head edge weights and attention in the compiled kernels (their MAX_HEADS; tested equal)
EDGE_CHUNK = 1 << 18

Alloc = Callable[[tuple, torch.dtype], torch.Tensor]  # where a compiled kernel's output goes (see program.Workspace)


def fresh(shape: tuple, dtype: torch.dtype) -> torch.Tensor:
    """A new output tensor (the default ``Alloc``)."""
    return torch.empty(shape, dtype=dtype)


def kernels():
    """The compiled core module, or None (then only the "torch" backend exists)."""
    return core()


def resolve_backend(requested: str = "auto") -> str:
    """``DQBENCH_ENGINE=torch`` forces PyTorch; otherwise the requested path (or the env's, or the best one)."""
    env = engine_env()
    if env == "torch":
        return "torch"
    choice = requested if requested not in (None, "auto") else (env or "auto")
    if choice not in (*BACKENDS, "auto"):
        raise DQBenchError(f"unknown engine backend '{choice}'; valid: auto, {', '.join(BACKENDS)}")
    if choice == "torch":
        return "torch"
    k = kernels()
    if k is None:
        if choice != "auto":
            raise DQBenchError(f"engine backend '{choice}' needs the compiled kernels, which are not built; "
                               "run `pip install .` with a C++ compiler or use DQBENCH_ENGINE=torch")
        return "torch"
    if choice == "auto":
        return k.best_path()
    if choice == "vnni" and not k.cpu_has("vnni") or choice == "avx2" and not k.cpu_has("avx2"):
        raise DQBenchError(f"this CPU does not support engine backend '{choice}'; use auto")
    return choice


def runs_here(backend: str) -> bool:
    """Whether this machine can run the backend: ``torch`` always, a compiled path if built and the CPU has it."""
    if backend == "torch":
        return True
    k = kernels()
    return k is not None and (backend == "scalar" or bool(k.cpu_has(backend)))


def runnable_backends() -> list[str]:
    """Every backend this machine can run: ``torch`` first, then each compiled path it supports."""
    return ["torch", *(p for p in COMPILED_PATHS if runs_here(p))]


def default_threads(threads: int | None) -> int:
    return int(threads) if threads else torch.get_num_threads()



# ------------------------------------------------------------------------------------------------------------
# The fused epilogue
# ------------------------------------------------------------------------------------------------------------
@dataclass
class Step:
    """x = (q - zp) * scale [+ bias] [relu]; q = quantize(x, qp): an exact requantization of codes."""

    zp: int
    scale: float
    qp: QParams
    bias: torch.Tensor | None = None
    relu: bool = False


@dataclass
class Requant:
    alpha: torch.Tensor                       # float32 [F]: accumulator -> real value
    qp: QParams                               # quantization of that value
    beta: torch.Tensor | None = None          # float32 [F] added before ReLU
    relu: bool = False
    self_qp: QParams | None = None            # adds (self_codes - zp) * scale when self codes are given
    steps: list[Step] = field(default_factory=list)
    lut: torch.Tensor | None = None           # int8 [F, 256] indexed by uint8(code)
    out_float: QParams | None = None          # final codes dequantized with these qparams -> float output

    @property
    def F(self) -> int:
        return self.alpha.numel()

    def last_qp(self) -> QParams:
        return self.steps[-1].qp if self.steps else self.qp


def quantize_torch(v: torch.Tensor, qp: QParams) -> torch.Tensor:
    return torch.clamp(torch.round(v / qp.scale) + qp.zero_point, qp.qmin, qp.qmax)


def epilogue_torch(acc: torch.Tensor, r: Requant, self_codes=None, row_div=None) -> torch.Tensor:
    """The reference epilogue: the same float ops, in the same order, as the compiled one."""
    v = acc.float() * r.alpha
    if row_div is not None:
        v = v / row_div.view(-1, 1)
    if self_codes is not None:
        v = v + (self_codes.float() - r.self_qp.zero_point) * r.self_qp.scale
    if r.beta is not None:
        v = v + r.beta
    if r.relu:
        v = torch.clamp_min(v, 0.0)
    q = quantize_torch(v, r.qp)
    for s in r.steps:
        x = (q - s.zp) * s.scale
        if s.bias is not None:
            x = x + s.bias
        if s.relu:
            x = torch.clamp_min(x, 0.0)
        q = quantize_torch(x, s.qp)
    if r.lut is not None:
        idx = q.long() & 255
        cols = torch.arange(q.size(1)) * 256
        q = r.lut.view(-1)[idx + cols].float()
    if r.out_float is not None:
        return (q - r.out_float.zero_point) * r.out_float.scale
    return q.to(torch.int8)


def _epi(r: Requant, out: torch.Tensor, self_codes=None, row_div=None):
    k = kernels()
    e = k.Epi()
    e.F = r.F
    e.alpha = ptr(r.alpha)
    e.beta = ptr(r.beta)
    e.relu = int(r.relu)
    e.qscale, e.qzp, e.qmin, e.qmax = r.qp.scale, r.qp.zero_point, r.qp.qmin, r.qp.qmax
    if self_codes is not None:
        e.self_ = ptr(self_codes)
        e.self_stride = self_codes.stride(0)
        e.self_i32 = int(self_codes.dtype == torch.int32)  # the INT32 control keeps codes in int32
        e.self_zp, e.self_scale = r.self_qp.zero_point, r.self_qp.scale
    if row_div is not None:
        e.row_div = ptr(row_div)
    for s in r.steps:
        e.add_step(s.zp, s.scale, ptr(s.bias), int(s.relu), s.qp.scale, s.qp.zero_point, s.qp.qmin, s.qp.qmax)
    if r.lut is not None:
        e.lut = ptr(r.lut)
    e.out_kind = 1 if r.out_float is not None else (2 if out.dtype == torch.int32 else 0)
    if r.out_float is not None:
        e.out_zp, e.out_scale = r.out_float.zero_point, r.out_float.scale
    e.out_stride = out.stride(0)
    e.out = ptr(out)
    return e


def _alloc(n: int, r: Requant, alloc: Alloc = fresh) -> torch.Tensor:
    return alloc((n, r.F), torch.float32 if r.out_float is not None else torch.int8)


# ------------------------------------------------------------------------------------------------------------
# Graph structure
# ------------------------------------------------------------------------------------------------------------
@dataclass
class Csr:
    """Rows = destinations. ``weights``: uint8 [nnz, heads] codes (zero point 0), or None (unweighted)."""

    indptr: torch.Tensor          # int64 [rows + 1]
    indices: torch.Tensor         # int32 [nnz] source rows
    rows: int
    weights: torch.Tensor | None = None
    heads: int = 1
    row_of: torch.Tensor | None = None  # int64 [nnz] destination of each entry (torch path)

    @classmethod
    def from_edges(cls, src: torch.Tensor, dst: torch.Tensor, rows: int) -> tuple["Csr", torch.Tensor]:
        """CSR of (src -> dst) edges and the permutation putting edges in CSR order (stable)."""
        perm = torch.sort(dst, stable=True).indices
        dsts = dst[perm]
        indptr = torch.zeros(rows + 1, dtype=torch.int64)
        indptr[1:] = torch.cumsum(torch.bincount(dsts, minlength=rows), 0)
        return cls(indptr=indptr, indices=src[perm].to(torch.int32).contiguous(), rows=rows, row_of=dsts), perm

    def with_weights(self, weights: torch.Tensor | None, heads: int = 1) -> "Csr":
        if weights is not None:
            weights = weights.to(torch.uint8).reshape(self.indices.numel(), heads).contiguous()
        return Csr(self.indptr, self.indices, self.rows, weights, heads, self.row_of)


def spmm(backend: str, g: Csr, x: torch.Tensor, x_zp: int, r: Requant, self_codes=None, row_div=None,
         threads: int | None = None, alloc: Alloc = fresh) -> torch.Tensor:
    """out[i] = epilogue(sum_{j in row i} w_ij (x_j - x_zp)); per-head weights split columns into equal groups."""
    F = x.size(1)
    if backend == "torch":
        acc = torch.zeros(g.rows, F, dtype=torch.int32)
        C = F // g.heads
        for lo in range(0, g.indices.numel(), EDGE_CHUNK):
            hi = min(lo + EDGE_CHUNK, g.indices.numel())
            msg = x[g.indices[lo:hi].long()].to(torch.int32) - x_zp
            if g.weights is not None:
                w = g.weights[lo:hi].to(torch.int32)
                msg = (msg.view(hi - lo, g.heads, C) * w.unsqueeze(-1)).view(hi - lo, F)
            acc.index_add_(0, g.row_of[lo:hi], msg)
        return epilogue_torch(acc, r, self_codes, row_div)
    x = x.contiguous()
    out = _alloc(g.rows, r, alloc)
    e = _epi(r, out, self_codes, row_div)
    kernels().spmm_i8(ptr(g.indptr), ptr(g.indices), ptr(g.weights), g.heads, F // g.heads, g.rows, ptr(x),
                      x.stride(0), int(x_zp), F, e, backend, default_threads(threads))
    return out


# ------------------------------------------------------------------------------------------------------------
# Dense layers
# ------------------------------------------------------------------------------------------------------------
@dataclass
class PackedWeight:
    """Integer weight codes W [F, K] (zero point w_zp), packed for the chosen path; x_zp is the input's."""

    codes: torch.Tensor
    w_zp: int
    x_zp: int
    backend: str
    packed: torch.Tensor = None
    colterm: torch.Tensor = None
    rowmult: int = 0

    def __post_init__(self):
        W = self.codes.to(torch.int8).contiguous()
        F, K = W.shape
        self.codes = W
        self.colterm = (self.x_zp * W.to(torch.int64).sum(1) - K * self.x_zp * self.w_zp).to(torch.int32)
        P = (F + 63) // 64
        if self.backend == "vnni":
            K4 = (K + 3) // 4
            wu = torch.zeros(P * 64, K4 * 4, dtype=torch.uint8)
            wu[:F, :K] = (W.to(torch.int32) + 128).to(torch.uint8)
            self.packed = wu.view(P, 64, K4, 4).permute(0, 2, 1, 3).contiguous()
            self.rowmult = 128 + self.w_zp
        elif self.backend == "avx2":
            K2 = (K + 1) // 2
            w16 = torch.zeros(P * 64, K2 * 2, dtype=torch.int16)
            w16[:F, :K] = W.to(torch.int16)
            self.packed = w16.view(P, 64, K2, 2).permute(0, 2, 1, 3).contiguous()
            self.rowmult = self.w_zp
        else:
            self.packed = W
            self.rowmult = self.w_zp

    @property
    def shape(self):
        return tuple(self.codes.shape)


def gemm(backend: str, x: torch.Tensor, w: PackedWeight, r: Requant, threads: int | None = None,
         alloc: Alloc = fresh) -> torch.Tensor:
    """out = epilogue(sum_k (x_ik - x_zp)(W_ck - w_zp))."""
    F, K = w.shape
    if backend == "torch":
        acc = (x.to(torch.int32) - w.x_zp) @ (w.codes.to(torch.int32) - w.w_zp).t()
        return epilogue_torch(acc, r)
    x = x.contiguous()
    out = _alloc(x.size(0), r, alloc)
    e = _epi(r, out)
    kernels().gemm_i8(ptr(x), x.size(0), K, x.stride(0), ptr(w.packed), F, w.rowmult, ptr(w.colterm), e, backend,
                      default_threads(threads))
    return out


def quantize(backend: str, x: torch.Tensor, qp: QParams, threads: int | None = None,
             alloc: Alloc = fresh) -> torch.Tensor:
    """Float -> int8 codes: clamp(round(x / scale) + zero_point)."""
    x = x.float().contiguous()
    if backend == "torch" or x.dim() != 2:
        return quantize_torch(x, qp).to(torch.int8)
    out = alloc(tuple(x.shape), torch.int8)
    kernels().quantize_f32(ptr(x), x.size(0), x.size(1), x.stride(0), qp.scale, qp.zero_point, qp.qmin, qp.qmax,
                           ptr(out), out.stride(0), backend, default_threads(threads))
    return out


def lut8(backend: str, x: torch.Tensor, table: torch.Tensor, threads: int | None = None,
         alloc: Alloc = fresh) -> torch.Tensor:
    """out = table[uint8(x)] elementwise (a per-tensor requantization of int8 codes)."""
    if backend == "torch":
        return table[x.long() & 255]
    x = x.contiguous()
    out = alloc(tuple(x.shape), x.dtype)
    kernels().lut8(ptr(x), x.numel(), ptr(table), ptr(out), backend, default_threads(threads))
    return out


def code_grid(qp: QParams) -> torch.Tensor:
    """Float32 [256]: the code whose uint8 bit pattern is the index (entries outside [qmin, qmax] clamped)."""
    idx = torch.arange(256)
    codes = torch.where(idx >= 128, idx - 256, idx) if qp.signed else idx
    return codes.clamp(qp.qmin, qp.qmax).float()


def padded_lut(table: torch.Tensor) -> torch.Tensor:
    """A [F, 256] int8 table with 64 spare bytes (vector gathers read 4 bytes at a time)."""
    flat = torch.zeros(table.numel() + 64, dtype=torch.int8)
    flat[: table.numel()] = table.reshape(-1).to(torch.int8)
    return flat[: table.numel()].view(table.shape)
