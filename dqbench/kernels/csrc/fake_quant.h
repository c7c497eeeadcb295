// Training-time fake quantization in one pass (included by kernels.cpp, inside its anonymous namespace, after the
// Path / cpu_has / AVX512 helpers). Bit-identical to dqbench.quant.fake_quant's PyTorch ops:
//   r = nearbyint(x / s) + zp;  c = clamp(r, lo, hi);  out = (c - zp) * s;  saturated = (r != c)
// Rows flagged in `protect` (one byte per row) keep x unchanged and are never saturated; with `clamp` they are
// clamped to [lo_val, hi_val] (the end codes' values, not rounded) and saturated where clamped. NaN propagates as in
// torch.clamp (and NaN != NaN marks it saturated, as torch.ne does; a protected NaN is not saturated, as
// `x < lo_val | x > hi_val` says). The saturated elements are given as a byte mask (one per element) or as their
// flat indices in ascending order (few saturate under trained ranges: a list is far smaller than a mask).
// Paths: "vnni" runs the AVX-512 code; "avx2" and "scalar" run the scalar loop.
#pragma once

// Where a span notes its saturated elements: a byte mask at `mask` (or none), and/or their flat indices
// (`first` + the offset in the span) appended to `idx` (or none).
struct SatSink {
  uint8_t* mask;
  std::vector<int64_t>* idx;
  int64_t first;
  void note(int64_t k, bool saturated) const {
    if (mask) mask[k] = saturated;
    if (idx && saturated) idx->push_back(first + k);
  }
};

inline float fq1(float v, float s, float zp, float lo, float hi, bool* sat) {
  float r = std::nearbyint(v / s) + zp;
  float c = std::isnan(r) ? r : std::min(std::max(r, lo), hi);
  *sat = !(r == c);
  return (c - zp) * s;
}

void fq_span_scalar(const float* x, int64_t n, float s, float zp, float lo, float hi, float* out, SatSink sat) {
  for (int64_t k = 0; k < n; ++k) {
    bool saturated;
    out[k] = fq1(x[k], s, zp, lo, hi, &saturated);
    sat.note(k, saturated);
  }
}

// Protected values clamped to [lv, hv] as torch.clamp does (NaN stays NaN: both comparisons are false), saturated
// where clamped.
void clamp_span_scalar(const float* x, int64_t n, float lv, float hv, float* out, SatSink sat) {
  for (int64_t k = 0; k < n; ++k) {
    const float v = x[k];
    out[k] = v < lv ? lv : (v > hv ? hv : v);
    sat.note(k, v < lv || v > hv);
  }
}

void zero_where_scalar(const float* g, const uint8_t* sat, int64_t n, float* out) {
  for (int64_t k = 0; k < n; ++k) out[k] = sat[k] ? 0.f : g[k];
}

#if DQ_X86
// The 16 lanes' saturation bits `m` of the vector at offset k, noted in `sat`.
AVX512 inline void note16(const SatSink& sat, int64_t k, __mmask16 valid, __mmask16 m) {
  if (sat.mask) _mm_mask_storeu_epi8(sat.mask + k, valid, _mm_maskz_mov_epi8(m, _mm_set1_epi8(1)));
  if (!sat.idx) return;
  for (unsigned bits = m & valid; bits; bits &= bits - 1) sat.idx->push_back(sat.first + k + __builtin_ctz(bits));
}

AVX512 void fq_span_avx512(const float* x, int64_t n, float s, float zp, float lo, float hi, float* out,
                           SatSink sat) {
  const __m512 vs = _mm512_set1_ps(s), vzp = _mm512_set1_ps(zp), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask16(n - k);
    __m512 r = _mm512_roundscale_ps(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + k), vs),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_add_ps(r, vzp);
    // max/min return their second operand when either is NaN: a NaN r stays NaN, as in torch.clamp
    const __m512 c = _mm512_min_ps(vhi, _mm512_max_ps(vlo, r));
    _mm512_mask_storeu_ps(out + k, m, _mm512_mul_ps(_mm512_sub_ps(c, vzp), vs));
    note16(sat, k, m, _mm512_cmp_ps_mask(r, c, _CMP_NEQ_UQ));
  }
}

AVX512 void clamp_span_avx512(const float* x, int64_t n, float lv, float hv, float* out, SatSink sat) {
  const __m512 vlv = _mm512_set1_ps(lv), vhv = _mm512_set1_ps(hv);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask16(n - k);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + k);
    const __mmask16 below = _mm512_cmp_ps_mask(v, vlv, _CMP_LT_OQ), above = _mm512_cmp_ps_mask(v, vhv, _CMP_GT_OQ);
    _mm512_mask_storeu_ps(out + k, m, _mm512_mask_mov_ps(_mm512_mask_mov_ps(v, below, vlv), above, vhv));
    note16(sat, k, m, below | above);
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
// idx: room for `cap` int64 or 0 (no index list wanted): the saturated elements' flat indices, ascending, written
// there when they fit. Returns how many elements saturate when a list is wanted (else 0): more than `cap` means
// the list was not written. lo_val, hi_val: the protected rows' clamp bounds when `clamp`.
int64_t fake_quant_train(uintptr_t x, int64_t N, int64_t F, float s, float zp, float lo, float hi, uintptr_t protect,
                         bool clamp, float lo_val, float hi_val, uintptr_t out, uintptr_t sat, uintptr_t idx,
                         int64_t cap, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  const float* xp = reinterpret_cast<const float*>(x);
  const uint8_t* pr = reinterpret_cast<const uint8_t*>(protect);
  float* op = reinterpret_cast<float*>(out);
  uint8_t* sp = reinterpret_cast<uint8_t*>(sat);
  const int64_t rows_per_block = std::max<int64_t>(1, FQ_BLOCK / std::max<int64_t>(F, 1));
  const int64_t blocks = (N + rows_per_block - 1) / rows_per_block;
  std::vector<std::vector<int64_t>> found(idx ? blocks : 0);  // each block's saturated indices, in order
  auto span = [&](int64_t b, int64_t k0, int64_t k1) {  // quantize elements [k0, k1) of the flat tensor
    if (k1 <= k0) return;
    const SatSink sink{sp ? sp + k0 : nullptr, idx ? &found[b] : nullptr, k0};
#if DQ_X86
    if (p == VNNI) return fq_span_avx512(xp + k0, k1 - k0, s, zp, lo, hi, op + k0, sink);
#endif
    fq_span_scalar(xp + k0, k1 - k0, s, zp, lo, hi, op + k0, sink);
  };
  auto protected_row = [&](int64_t b, int64_t i) {  // copied, or clamped to [lo_val, hi_val]
    const int64_t k0 = i * F;
    if (!clamp) {
      std::memcpy(op + k0, xp + k0, sizeof(float) * F);
      if (sp) std::memset(sp + k0, 0, F);
      return;
    }
    const SatSink sink{sp ? sp + k0 : nullptr, idx ? &found[b] : nullptr, k0};
#if DQ_X86
    if (p == VNNI) return clamp_span_avx512(xp + k0, F, lo_val, hi_val, op + k0, sink);
#endif
    clamp_span_scalar(xp + k0, F, lo_val, hi_val, op + k0, sink);
  };
  py::gil_scoped_release release;
#pragma omp parallel for num_threads(nthreads(threads)) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * rows_per_block, i1 = std::min(N, i0 + rows_per_block);
    if (!pr) {
      span(b, i0 * F, i1 * F);
      continue;
    }
    int64_t run = i0;  // start of the current run of unprotected rows
    for (int64_t i = i0; i < i1; ++i) {
      if (!pr[i]) continue;
      span(b, run * F, i * F);
      protected_row(b, i);
      run = i + 1;
    }
    span(b, run * F, i1 * F);
  }
  if (!idx) return 0;
  int64_t count = 0;
  for (const auto& f : found) count += static_cast<int64_t>(f.size());
  if (count <= cap) {
    int64_t* ip = reinterpret_cast<int64_t*>(idx);
    for (const auto& f : found) ip = std::copy(f.begin(), f.end(), ip);
  }
  return count;
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
