"""GAT attention coefficients in fixed point: integer logits (INT8 codes x INT32 codes of the attention vectors,
INT64 sums), the leaky ReLU and a 2^-y polynomial in float64 on the max-shifted logits, INT64 softmax sums, one
float64 division per coefficient -> UINT8 codes. The compiled kernel (csrc/gat_attention.h) and the PyTorch path
below give the same integers: integer sums are exact in any order and every float op is one IEEE double op.

Against the model's float32 softmax the coefficients differ by far less than one code step (attention vectors
kept to 30 bits per head, 2^-y to about 1e-12), so a coefficient lands on a neighbouring code only where the float
value lies within rounding of a code boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dqbench.engine import kernels as K
from dqbench.quant.qparams import QParams

ATT_BITS = 30    # attention vector codes: |a| <= 2^30 per head
W_BITS = 32      # softmax numerators: round(2^-y * 2^32)
LOG2E = 1.0 / math.log(2.0)
EXP2_POLY = tuple((-math.log(2.0)) ** k / math.factorial(k) for k in range(13))  # 2^-f = e^(-f ln 2), f in [0, 1)
_POLY = torch.tensor(EXP2_POLY, dtype=torch.float64)
_SLICE = 1 << 15  # edges per slice on the PyTorch path
_POW2 = torch.tensor([2.0**k for k in range(W_BITS + 1)], dtype=torch.float64)


@dataclass
class GatAttention:
    """One GAT layer's attention constants: per-head integer attention vectors and the logit scale."""

    a_src: torch.Tensor        # int32 [heads * channels]
    a_dst: torch.Tensor        # int32 [heads * channels]
    logit_scale: torch.Tensor  # float64 [heads]: (s_src + s_dst) * logit_scale = the logit
    heads: int
    slope: float               # leaky ReLU's negative slope
    qp: QParams                # the attention coefficients' quantizer

    @classmethod
    def from_vectors(cls, att_src: torch.Tensor, att_dst: torch.Tensor, h_scale: float, slope: float,
                     qp: QParams) -> GatAttention:
        heads = att_src.size(-2)
        a_s, a_d = (a.detach().double().reshape(heads, -1) for a in (att_src, att_dst))
        amax = torch.maximum(a_s.abs().amax(1), a_d.abs().amax(1))
        step = torch.where(amax > 0, amax / 2**ATT_BITS, torch.ones_like(amax))

        def codes(a):
            return torch.round(a / step[:, None]).to(torch.int32).reshape(-1).contiguous()

        return cls(codes(a_s), codes(a_d), (step * float(h_scale)).contiguous(), heads, float(slope), qp)

    def tensors(self) -> list[torch.Tensor]:
        return [self.a_src, self.a_dst, self.logit_scale]


def exp2_fixed(y: torch.Tensor) -> torch.Tensor:
    """int64 round(2^-y * 2^W_BITS) for y >= 0 (0 from y >= W_BITS + 1), as the kernel computes it."""
    n = torch.floor(y)
    f = y - n
    p = torch.full_like(f, EXP2_POLY[-1])
    for c in reversed(EXP2_POLY[:-1]):
        p.mul_(f).add_(c)  # in place: the same two roundings as p * f + c
    live = y < W_BITS + 1
    shift = torch.where(live, W_BITS - n, torch.zeros_like(n)).long()
    return torch.where(live, torch.round(p * _POW2.take(shift)), torch.zeros_like(p)).long()


def attention_codes(backend: str, g: K.Csr, x: torch.Tensor, x_zp: int, att: GatAttention,
                    threads: int | None = None, alloc: K.Alloc = K.fresh) -> torch.Tensor:
    """uint8 [nnz, heads] coefficient codes (code - zero point) in the CSR (destination) order of ``g``, from the
    int8 codes ``x`` [n, heads * channels] of the projected features."""
    H, qp = att.heads, att.qp
    x = x.contiguous()
    if backend != "torch":
        out = alloc((g.indices.numel(), H), torch.uint8)
        K.kernels().gat_attention(K.ptr(g.indptr), K.ptr(g.indices), g.rows, H, x.size(1) // H, K.ptr(x),
                                  x.stride(0), int(x_zp), K.ptr(att.a_src), K.ptr(att.a_dst),
                                  K.ptr(att.logit_scale), att.slope, K.ptr(_POLY), len(EXP2_POLY), LOG2E,
                                  float(qp.scale), float(qp.zero_point), float(qp.qmin), float(qp.qmax),
                                  K.ptr(out), backend, K.default_threads(threads))
        return out
    n = g.rows
    q = (x.long() - x_zp).view(n, H, -1)
    s_src = (q * att.a_src.long().view(H, -1)).sum(-1)
    s_dst = (q * att.a_dst.long().view(H, -1)).sum(-1)
    src, dst = g.indices.long(), g.row_of
    nnz = src.numel()
    spans = [slice(e, e + _SLICE) for e in range(0, nnz, _SLICE)]  # elementwise work in slices that stay in cache
    v = torch.empty(nnz, H, dtype=torch.float64)
    for e in spans:
        t = (s_src.index_select(0, src[e]) + s_dst.index_select(0, dst[e])).double() * att.logit_scale
        v[e] = torch.where(t < 0, t * att.slope, t)
    vmax = torch.full((n, H), -math.inf, dtype=torch.float64).scatter_reduce_(0, dst[:, None].expand(-1, H), v, "amax")
    w = torch.empty(nnz, H, dtype=torch.int64)
    sums = torch.zeros(n, H, dtype=torch.int64)  # integer sums: exact in any order
    for e in spans:
        w[e] = exp2_fixed((vmax.index_select(0, dst[e]) - v[e]) * LOG2E)
        sums.index_add_(0, dst[e], w[e])
    out = torch.empty(nnz, H, dtype=torch.uint8)
    for e in spans:
        out[e] = K.quantize_torch(w[e].double() / sums.index_select(0, dst[e]).double(), qp) - qp.zero_point
    return out
