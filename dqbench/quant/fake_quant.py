"""Fake quantization (quantize, then dequantize) with a straight-through or a gradient-clipping backward.

Forward: ``q = clamp(round(x / scale) + zero_point, qmin, qmax)``, ``x_hat = (q - zero_point) * scale``
(``round`` is ``torch.round``: half to even). The integer engine reproduces exactly these float operations.
"""

from __future__ import annotations

from functools import lru_cache, partial

import torch

from dqbench.kernels import core, engine_env, ptr

BACKWARDS = ("ste", "clip")


def quantize(x: torch.Tensor, scale: float, zero_point: int, qmin: int, qmax: int) -> torch.Tensor:
    """Integer codes (as float): clamp(round(x / scale) + zero_point, qmin, qmax)."""
    return torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)


def dequantize(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """Back to real values: (q - zero_point) * scale."""
    return (q - zero_point) * scale


def fused_path() -> str | None:
    """The compiled one-pass kernels' path ("vnni": AVX-512) when this CPU and build have them, else None: then
    fake quantization runs as PyTorch ops. Both give bit-identical values, masks and gradients.
    ``DQBENCH_ENGINE=torch`` forces the PyTorch ops (as it does for the integer engine)."""
    if engine_env() == "torch":
        return None
    return _compiled_avx512()


@lru_cache(maxsize=1)
def _compiled_avx512() -> str | None:
    k = core()
    return "vnni" if k is not None and hasattr(k, "fake_quant_train") and k.cpu_has("vnni") else None


def fake_quant_ops(x, scale, zero_point, qmin, qmax, want_mask, protect, clamp_protected=False):
    """PyTorch ops: (out, saturated or None), the reference the compiled kernel reproduces bit for bit.
    In place on one buffer (few passes over memory); protected rows are copied back from ``x`` by index, or with
    ``clamp_protected`` clamped to the representable range (not rounded) and saturated where clamped."""
    codes = (x / scale).round_().add_(zero_point)
    if want_mask:
        out = codes.clamp(qmin, qmax)
        saturated = out != codes  # True exactly where x saturates
    else:
        out, saturated = codes.clamp_(qmin, qmax), None
    out.sub_(zero_point).mul_(scale)
    if protect is not None:
        rows = protect.nonzero().squeeze(1)
        xr = x.index_select(0, rows)
        if clamp_protected:
            lo, hi = range_ends(scale, zero_point, qmin, qmax)
            out.index_copy_(0, rows, xr.clamp(lo, hi))
            if want_mask:
                saturated.index_copy_(0, rows, (xr < lo) | (xr > hi))
        else:
            out.index_copy_(0, rows, xr)
            if want_mask:
                saturated.index_fill_(0, rows, False)
    return out, saturated


def checked_row_mask(protect: torch.Tensor | None, rows: int) -> torch.Tensor | None:
    """``protect`` as the compiled kernels read it (contiguous bool, one per row), or a ValueError where it does
    not have one element per row (the kernels would read past its end)."""
    if protect is None:
        return None
    if protect.dtype != torch.bool or protect.numel() != rows:
        raise ValueError(f"protect must be a bool mask with one element per row ({rows}), got "
                         f"{protect.dtype} with {protect.numel()}")
    return protect.contiguous()


def range_ends(scale, zero_point, qmin, qmax) -> tuple[float, float]:
    """The representable range's ends: the values of codes ``qmin`` and ``qmax`` (where ``clamp_protected``
    clamps the protected rows)."""
    return dequantize(qmin, scale, zero_point), dequantize(qmax, scale, zero_point)


def fake_quant_fused(path, x, scale, zero_point, qmin, qmax, want_mask, protect, clamp_protected=False):
    """The same as :func:`fake_quant_ops` in one pass of the compiled kernel (float32 only), except that the
    saturated elements come as their flat indices (int64, ascending; see :func:`saturation_mask`) when they are
    few, as under trained ranges, instead of a byte per element kept until the backward pass (REDDIT-BINARY GIN,
    batches of 128 graphs: 97 MB of masks a step, paged in afresh each step, where at most 0.23% (INT8) or 1.05%
    (INT4) of a call's elements saturate: reports/training_cost/saturation.txt). When more than 1/16 of the
    elements saturate, a second pass writes the byte mask instead."""
    x = x.contiguous()
    out = torch.empty_like(x)
    rows = x.size(0) if x.dim() else 1
    protect = checked_row_mask(protect, rows)
    lo, hi = range_ends(scale, zero_point, qmin, qmax)

    def run(mask=None, idx=None, room=0):
        return core().fake_quant_train(ptr(x), rows, x.numel() // max(rows, 1), scale, zero_point, qmin, qmax,
                                          ptr(protect), bool(clamp_protected), lo, hi, ptr(out), ptr(mask), ptr(idx),
                                          room, path, torch.get_num_threads())

    if not want_mask:
        run()
        return out, None
    room = index_room(x.numel())
    idx = torch.empty(max(room, 1), dtype=torch.int64)  # untouched beyond what is written: no page faults
    count = run(idx=idx, room=room)
    if count <= room:
        return out, idx[:count].clone()  # a copy: the spare room goes now
    mask = torch.empty(x.shape, dtype=torch.bool)
    run(mask=mask)
    return out, mask


def index_room(numel: int) -> int:
    """How many saturated indices :func:`fake_quant_fused` makes room for (1/16 of the elements, 16 at least);
    more than that and it writes the byte mask instead."""
    return numel // 16 + 16


def saturation_mask(saturated: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A bool mask shaped like ``like`` from either form of saturation: a mask already, or flat indices."""
    if saturated.dtype == torch.bool:
        return saturated
    mask = torch.zeros(like.numel(), dtype=torch.bool)
    mask[saturated] = True
    return mask.view(like.shape)


def zero_where(saturated: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``grad`` with 0 where the bool mask ``saturated`` is set."""
    path = fused_path()
    if path is None or grad.dtype != torch.float32 or not grad.is_cpu:
        return torch.where(saturated, grad.new_zeros(()), grad)  # a 0-dim tensor: 2x faster than 0.0
    grad = grad.contiguous()
    out = torch.empty_like(grad)
    core().zero_where(ptr(grad), ptr(saturated), grad.numel(), ptr(out), path, torch.get_num_threads())
    return out


def clip_gradient(saturated: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The clipping backward: ``grad`` with 0 where ``saturated`` (a bool mask like ``grad``, or the saturated
    elements' flat indices). Nothing saturated: ``grad`` itself, no pass over it."""
    if saturated.dtype == torch.bool:
        return zero_where(saturated, grad)
    if saturated.numel() == 0:
        return grad
    out = grad.clone(memory_format=torch.contiguous_format)
    out.view(-1).index_fill_(0, saturated, 0.0)
    return out


class _FakeQuant(torch.autograd.Function):
    """Fake quantization with an optional per-row pass-through (``protect``) and the saturated elements kept for
    the clipping backward (their flat indices from the compiled kernel, a bool mask from the PyTorch ops; it
    writes 0 there: multiplying by a float "inside" mask instead was a third of Degree-Quant's training overhead
    over QAT on REDDIT-BINARY GIN).
    The forward is one pass of the compiled kernel where available (float32 on the CPU), PyTorch ops otherwise."""

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax, clip, protect, clamp_protected):
        clip = ctx.clip = clip and ctx.needs_input_grad[0]  # no mask when no gradient is wanted (e.g. raw features)
        path = fused_path() if x.dtype == torch.float32 and x.is_cpu and x.numel() else None
        fq = fake_quant_ops if path is None else partial(fake_quant_fused, path)
        out, saturated = fq(x, scale, zero_point, qmin, qmax, clip, protect, clamp_protected)
        if clip:
            ctx.save_for_backward(saturated)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.clip:
            (saturated,) = ctx.saved_tensors
            grad = clip_gradient(saturated, grad)
        return grad, None, None, None, None, None, None, None


def fake_quantize(x: torch.Tensor, scale: float, zero_point: int, qmin: int, qmax: int,
                  backward: str = "ste", protect: torch.Tensor | None = None,
                  clamp_protected: bool = False) -> torch.Tensor:
    """Quantize-dequantize ``x``; backward ``"ste"`` passes gradients through, ``"clip"`` zeroes them where ``x``
    falls outside the representable range (saturates). Rows flagged in ``protect`` (bool, one per row of ``x``)
    keep their full-precision value and gradient; with ``clamp_protected`` they are clamped to the representable
    range instead (not rounded), and count as saturated where clamped."""
    return _FakeQuant.apply(x, float(scale), int(zero_point), int(qmin), int(qmax), backward == "clip", protect,
                            bool(clamp_protected))
