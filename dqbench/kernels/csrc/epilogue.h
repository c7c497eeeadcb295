// Fused requantization epilogue shared by every integer kernel (scalar reference + AVX-512 version).
//
// For output element (row i, column c) with exact int32 accumulator `acc`:
//   v = float(acc) * alpha[c]            ; v = v / row_div[i]            (if row_div, e.g. mean pooling)
//   v = v + float(self[i,c] - self_zp) * self_scale                      (if self, e.g. GIN's (1+eps) x_i;
//                                                                          int8 codes, or int32 ones)
//   v = v + beta[c]                      ; v = max(v, 0)                 (if beta / relu)
//   q = clamp(round_half_even(v / qscale) + qzp, qmin, qmax)
//   each chain step s: x = (q - zp_s) * scale_s [+ bias_s[c]] [relu]; q = clamp(round(x / qscale_s) + qzp_s, ...)
//   q = lut[c * 256 + uint8(q)]                                          (if lut: per-channel table, e.g. ELU)
//   out = int8 q | float (q - out_zp) * out_scale | int32 q
// Every operation is a single IEEE float op in this order (no FMA contraction), so the scalar path, the
// vector path and the PyTorch fallback produce identical bits.
#pragma once
#include <cstdint>

namespace dq {

constexpr int MAX_STEPS = 3;

enum OutKind { OUT_I8 = 0, OUT_F32 = 1, OUT_I32 = 2 };

struct Epi {
  int F = 0;                     // columns written per row
  uintptr_t alpha = 0;           // float[F] (required)
  uintptr_t row_div = 0;         // float[N] or 0
  uintptr_t self_ = 0;           // int8 [N, self_stride] (int32 if self_i32: the INT32 control) or 0
  int64_t self_stride = 0;
  int self_i32 = 0;
  float self_zp = 0.f, self_scale = 0.f;
  uintptr_t beta = 0;            // float[F] or 0
  int relu = 0;
  float qscale = 1.f, qzp = 0.f, qmin = -128.f, qmax = 127.f;
  int nsteps = 0;
  float s_zp[MAX_STEPS] = {0}, s_scale[MAX_STEPS] = {0};
  uintptr_t s_bias[MAX_STEPS] = {0};
  int s_relu[MAX_STEPS] = {0};
  float s_qscale[MAX_STEPS] = {0}, s_qzp[MAX_STEPS] = {0}, s_qmin[MAX_STEPS] = {0}, s_qmax[MAX_STEPS] = {0};
  uintptr_t lut = 0;             // int8 [F][256] (+4 bytes padding) or 0
  int out_kind = OUT_I8;
  float out_zp = 0.f, out_scale = 1.f;
  int64_t out_stride = 0;        // elements per output row
  uintptr_t out = 0;
};

}  // namespace dq
