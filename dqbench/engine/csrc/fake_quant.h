// Training-time fake quantization in one pass (included by kernels.cpp, inside its anonymous namespace, after the
// Path / cpu_has / AVX512 helpers). Bit-identical to dqbench.quant.fake_quant's PyTorch ops:
//   r = nearbyint(x / s) + zp;  c = clamp(r, lo, hi);  out = (c - zp) * s;  saturated = (r != c)
// Rows flagged in `protect` (one byte per row) keep x unchanged and are never saturated; with `clamp` they are
// clamped to [lo_val, hi_val] (the end codes' values, not rounded) and saturated where clamped. NaN propagates as in
// torch.clamp (and NaN != NaN marks it saturated, as torch.ne does; a protected NaN is not saturated, as
// `x < lo_val | x > hi_val` says). The gradient mask is one byte per element.
// Paths: "vnni" runs the AVX-512 code; "avx2" and "scalar" run the scalar loop.
#pragma once

inline float fq1(float v, float s, float zp, float lo, float hi, uint8_t* sat) {
  float r = std::nearbyint(v / s) + zp;
  float c = std::isnan(r) ? r : std::min(std::max(r, lo), hi);
  if (sat) *sat = !(r == c);
  return (c - zp) * s;
}

void fq_span_scalar(const float* x, int64_t n, float s, float zp, float lo, float hi, float* out, uint8_t* sat) {
  for (int64_t k = 0; k < n; ++k) out[k] = fq1(x[k], s, zp, lo, hi, sat ? sat + k : nullptr);
}

// Protected values clamped to [lv, hv] as torch.clamp does (NaN stays NaN: both comparisons are false), saturated
// where clamped.
void clamp_span_scalar(const float* x, int64_t n, float lv, float hv, float* out, uint8_t* sat) {
  for (int64_t k = 0; k < n; ++k) {
    const float v = x[k];
    out[k] = v < lv ? lv : (v > hv ? hv : v);
    if (sat) sat[k] = v < lv || v > hv;
  }
}

void zero_where_scalar(const float* g, const uint8_t* sat, int64_t n, float* out) {
  for (int64_t k = 0; k < n; ++k) out[k] = sat[k] ? 0.f : g[k];
}

#if DQ_X86
AVX512 void fq_span_avx512(const float* x, int64_t n, float s, float zp, float lo, float hi, float* out,
                           uint8_t* sat) {
  const __m512 vs = _mm512_set1_ps(s), vzp = _mm512_set1_ps(zp), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const __m128i one = _mm_set1_epi8(1);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask16(n - k);
    __m512 r = _mm512_roundscale_ps(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + k), vs),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_add_ps(r, vzp);
    // max/min return their second operand when either is NaN: a NaN r stays NaN, as in torch.clamp
    const __m512 c = _mm512_min_ps(vhi, _mm512_max_ps(vlo, r));
    _mm512_mask_storeu_ps(out + k, m, _mm512_mul_ps(_mm512_sub_ps(c, vzp), vs));
    if (sat) _mm_mask_storeu_epi8(sat + k, m, _mm_maskz_mov_epi8(_mm512_cmp_ps_mask(r, c, _CMP_NEQ_UQ), one));
  }
}

AVX512 void clamp_span_avx512(const float* x, int64_t n, float lv, float hv, float* out, uint8_t* sat) {
  const __m512 vlv = _mm512_set1_ps(lv), vhv = _mm512_set1_ps(hv);
  const __m128i one = _mm_set1_epi8(1);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask16(n - k);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + k);
    const __mmask16 below = _mm512_cmp_ps_mask(v, vlv, _CMP_LT_OQ), above = _mm512_cmp_ps_mask(v, vhv, _CMP_GT_OQ);
    _mm512_mask_storeu_ps(out + k, m, _mm512_mask_mov_ps(_mm512_mask_mov_ps(v, below, vlv), above, vhv));
    if (sat) _mm_mask_storeu_epi8(sat + k, m, _mm_maskz_mov_epi8(below | above, one));
  }
}

AVX512 void zero_where_avx512(const float* g, const uint8_t* sat, int64_t n, float* out) {
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask16(n - k);
    const __m128i b = _mm_maskz_loadu_epi8(m, sat + k);
    const __mmask16 keep = _mm_mask_cmpeq_epi8_mask(m, b, _mm_setzero_si128());
    _mm512_mask_storeu_ps(out + k, m, _mm512_maskz_loadu_ps(keep, g + k));
  }
}
#endif

constexpr int64_t FQ_BLOCK = 1 << 14;  // elements per parallel work item

// x, out: N rows of F contiguous floats; protect: N bytes or 0; sat: N * F bytes or 0 (no mask wanted);
// lo_val, hi_val: the protected rows' clamp bounds when `clamp`.
void fake_quant_train(uintptr_t x, int64_t N, int64_t F, float s, float zp, float lo, float hi, uintptr_t protect,
                      bool clamp, float lo_val, float hi_val, uintptr_t out, uintptr_t sat, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  const float* xp = reinterpret_cast<const float*>(x);
  const uint8_t* pr = reinterpret_cast<const uint8_t*>(protect);
  float* op = reinterpret_cast<float*>(out);
  uint8_t* sp = reinterpret_cast<uint8_t*>(sat);
  auto span = [&](int64_t k0, int64_t k1) {  // quantize elements [k0, k1) of the flat tensor
    if (k1 <= k0) return;
#if DQ_X86
    if (p == VNNI) return fq_span_avx512(xp + k0, k1 - k0, s, zp, lo, hi, op + k0, sp ? sp + k0 : nullptr);
#endif
    fq_span_scalar(xp + k0, k1 - k0, s, zp, lo, hi, op + k0, sp ? sp + k0 : nullptr);
  };
  auto protected_row = [&](int64_t i) {  // copied, or clamped to [lo_val, hi_val]
    const int64_t k0 = i * F;
    if (!clamp) {
      std::memcpy(op + k0, xp + k0, sizeof(float) * F);
      if (sp) std::memset(sp + k0, 0, F);
      return;
    }
#if DQ_X86
    if (p == VNNI) return clamp_span_avx512(xp + k0, F, lo_val, hi_val, op + k0, sp ? sp + k0 : nullptr);
#endif
    clamp_span_scalar(xp + k0, F, lo_val, hi_val, op + k0, sp ? sp + k0 : nullptr);
  };
  const int64_t rows_per_block = std::max<int64_t>(1, FQ_BLOCK / std::max<int64_t>(F, 1));
  const int64_t blocks = (N + rows_per_block - 1) / rows_per_block;
  py::gil_scoped_release release;
#pragma omp parallel for num_threads(nthreads(threads)) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * rows_per_block, i1 = std::min(N, i0 + rows_per_block);
    if (!pr) {
      span(i0 * F, i1 * F);
      continue;
    }
    int64_t run = i0;  // start of the current run of unprotected rows
    for (int64_t i = i0; i < i1; ++i) {
      if (!pr[i]) continue;
      span(run * F, i * F);
      protected_row(i);
      run = i + 1;
    }
    span(run * F, i1 * F);
  }
}

// out = sat ? 0 : g, elementwise over n floats (the clipping backward).
void zero_where(uintptr_t g, uintptr_t sat, int64_t n, uintptr_t out, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  const float* gp = reinterpret_cast<const float*>(g);
  const uint8_t* sp = reinterpret_cast<const uint8_t*>(sat);
  float* op = reinterpret_cast<float*>(out);
  const int64_t blocks = (n + FQ_BLOCK - 1) / FQ_BLOCK;
  py::gil_scoped_release release;
#pragma omp parallel for num_threads(nthreads(threads)) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t k0 = b * FQ_BLOCK, k1 = std::min(n, k0 + FQ_BLOCK);
#if DQ_X86
    if (p == VNNI) {
      zero_where_avx512(gp + k0, sp + k0, k1 - k0, op + k0);
      continue;
    }
#endif
    zero_where_scalar(gp + k0, sp + k0, k1 - k0, op + k0);
  }
}
