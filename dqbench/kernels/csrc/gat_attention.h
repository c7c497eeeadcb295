// GAT attention coefficients in fixed point (included by kernels.cpp inside its anonymous namespace, after the
// Path / cpu_has / AVX512 helpers). The same integers as dqbench.engine.attention's PyTorch path:
//   s_src[i,h] = sum_c (x[i,h,c] - x_zp) * a_src[h,c]   (int64; a_src, a_dst: int32 codes of the attention vectors)
//   v = double(s_src[j,h] + s_dst[i,h]) * se[h];  v = v < 0 ? v * slope : v      (the logit and its leaky ReLU)
//   y = (max_{j in row i} v - v) * log2e;  n = floor(y);  f = y - n
//   w = y < 33 ? nearbyint(p(f) * 2^(32 - n)) : 0       (int64: 2^-y in 32 fractional bits; p: 2^-f polynomial)
//   code = clamp(nearbyint(double(w) / double(sum_row w) / scale) + zp, qmin, qmax) - zp          (uint8)
// Integer sums are exact in any order and every float op is one IEEE double op, so all paths agree bit for bit.
// Paths: "vnni" runs the AVX-512 code (per-node logit halves, rows of eight heads per vector, or of eight edges
// per vector with one head); "avx2" and "scalar" the scalar code. At the end: the FP32 control of the same structure that latency trials time against it.
#pragma once

constexpr int GAT_W_BITS = 32;
constexpr int GAT_PREFETCH = 24;  // edges ahead for the software prefetch of the per-node logit halves

inline double pow2_exact(int64_t k) {  // 2^k for -1022 <= k <= 1023, built from its exponent bits
  uint64_t b = static_cast<uint64_t>(1023 + k) << 52;
  double s;
  std::memcpy(&s, &b, sizeof s);
  return s;
}

inline int64_t exp2_fixed(double y, const double* poly, int np) {
  if (!(y < GAT_W_BITS + 1.0)) return 0;
  const double n = std::floor(y), f = y - n;
  double p = poly[np - 1];
  for (int k = np - 2; k >= 0; --k) p = p * f + poly[k];
  return static_cast<int64_t>(std::nearbyint(p * pow2_exact(GAT_W_BITS - static_cast<int64_t>(n))));
}

void exp2_span_scalar(const double* y, int64_t n, const double* poly, int np, int64_t* w) {
  for (int64_t k = 0; k < n; ++k) w[k] = exp2_fixed(y[k], poly, np);
}

// Per-node logit halves: s_src = sum_c (x_c - x_zp) * a_src_c per head (exact int64), and the same with a_dst.
void node_scores_scalar(const int8_t* xr, int H, int C, int x_zp, const int32_t* as, const int32_t* ad,
                        int64_t* s, int64_t* d) {
  for (int h = 0; h < H; ++h) {
    int64_t ss = 0, dd = 0;
    for (int c = 0; c < C; ++c) {
      const int64_t q = static_cast<int64_t>(xr[h * C + c]) - x_zp;
      ss += q * as[h * C + c];
      dd += q * ad[h * C + c];
    }
    s[h] = ss, d[h] = dd;
  }
}

#if DQ_X86
// Eight channels per step: int8 -> int64 lanes, 32 x 32 -> 64-bit signed products (|x - x_zp| <= 255, |a| <= 2^30).
AVX512 void node_scores_avx512(const int8_t* xr, int H, int C, int x_zp, const int32_t* as, const int32_t* ad,
                               int64_t* s, int64_t* d) {
  const __m512i zp = _mm512_set1_epi64(x_zp);
  for (int h = 0; h < H; ++h) {
    __m512i ss = _mm512_setzero_si512(), dd = _mm512_setzero_si512();
    for (int c = 0; c < C; c += 8) {
      const __mmask8 m = static_cast<__mmask8>((1u << std::min(8, C - c)) - 1);
      const __m512i q = _mm512_maskz_sub_epi64(
          m, _mm512_cvtepi8_epi64(_mm_maskz_loadu_epi8(m, xr + h * C + c)), zp);
      const __m512i a_s = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(m, as + h * C + c));
      const __m512i a_d = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(m, ad + h * C + c));
      ss = _mm512_add_epi64(ss, _mm512_mul_epi32(q, a_s));
      dd = _mm512_add_epi64(dd, _mm512_mul_epi32(q, a_d));
    }
    s[h] = _mm512_reduce_add_epi64(ss);
    d[h] = _mm512_reduce_add_epi64(dd);
  }
}
#endif

// n values of T starting on a 64-byte line: a node's eight int64 logit halves are then one cache line, not two
// (operator new aligns to 16 bytes only), and each row's random load touches one line.
template <class T>
struct LineAligned {
  std::unique_ptr<T[]> mem;
  T* p;
  explicit LineAligned(size_t n) : mem(new T[n + 64 / sizeof(T)]) {
    p = reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(mem.get()) + 63) & ~static_cast<uintptr_t>(63));
  }
};

struct GatRow {  // what every row of one attention call reads
  const int64_t* ip;
  const int32_t* ix;
  const int64_t *s_src, *s_dst;
  const double* se;
  const double* poly;
  int np, H;
  int64_t nnz;
  double slope, log2e, scale, zp, qmin, qmax;
  uint8_t* out;
};

#if DQ_X86
// exp2_fixed on eight lanes (lanes with y >= 33 give 0).
AVX512 inline __m512i exp2_fixed8(__m512d y, const double* poly, int np) {
  const __mmask8 live = _mm512_cmp_pd_mask(y, _mm512_set1_pd(GAT_W_BITS + 1.0), _CMP_LT_OQ);
  const __m512d n = _mm512_roundscale_pd(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512d f = _mm512_sub_pd(y, n);
  __m512d p = _mm512_set1_pd(poly[np - 1]);
  for (int j = np - 2; j >= 0; --j) p = _mm512_add_pd(_mm512_mul_pd(p, f), _mm512_set1_pd(poly[j]));
  // dead lanes may hold any bits until the masked conversion zeroes them
  const __m512i top = _mm512_set1_epi64(1023 + GAT_W_BITS);
  const __m512i e = _mm512_slli_epi64(_mm512_sub_epi64(top, _mm512_maskz_cvttpd_epi64(live, n)), 52);
  const __m512d v = _mm512_roundscale_pd(_mm512_mul_pd(p, _mm512_castsi512_pd(e)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_maskz_cvtpd_epi64(live, v);
}
#endif

// One destination row: logits -> y (scratch [deg][H]), numerators w (scratch), codes. Scalar reference.
void gat_row_scalar(const GatRow& r, int64_t i, double* y, int64_t* w) {
  const int H = r.H;
  const int64_t b = r.ip[i], deg = r.ip[i + 1] - b;
  double vmax[MAX_HEADS];
  int64_t sum[MAX_HEADS];
  for (int h = 0; h < H; ++h) vmax[h] = -INFINITY, sum[h] = 0;
  for (int64_t k = 0; k < deg; ++k) {
    const int64_t j = r.ix[b + k];
    for (int h = 0; h < H; ++h) {
      double v = static_cast<double>(r.s_src[j * H + h] + r.s_dst[i * H + h]) * r.se[h];
      if (v < 0) v = v * r.slope;
      y[k * H + h] = v;
      if (v > vmax[h]) vmax[h] = v;
    }
  }
  for (int64_t k = 0; k < deg; ++k)
    for (int h = 0; h < H; ++h) y[k * H + h] = (vmax[h] - y[k * H + h]) * r.log2e;
  exp2_span_scalar(y, deg * H, r.poly, r.np, w);
  for (int64_t k = 0; k < deg; ++k)
    for (int h = 0; h < H; ++h) sum[h] += w[k * H + h];
  for (int64_t k = 0; k < deg; ++k)
    for (int h = 0; h < H; ++h) {
      const double a = static_cast<double>(w[k * H + h]) / static_cast<double>(sum[h]);
      const double q = std::min(std::max(std::nearbyint(a / r.scale) + r.zp, r.qmin), r.qmax);
      r.out[(b + k) * H + h] = static_cast<uint8_t>(static_cast<int>(q - r.zp));
    }
}

#if DQ_X86
// The same ops, eight heads per vector (lanes past H masked off).
AVX512 void gat_row_avx512(const GatRow& r, int64_t i, double* y, int64_t* w) {
  const int H = r.H;
  const int64_t b = r.ip[i], deg = r.ip[i + 1] - b;
  for (int h0 = 0; h0 < H; h0 += 8) {
    const __mmask8 m = static_cast<__mmask8>((1u << std::min(8, H - h0)) - 1);
    const __m512i sd = _mm512_maskz_loadu_epi64(m, r.s_dst + i * H + h0);
    const __m512d se = _mm512_maskz_loadu_pd(m, r.se + h0), slope = _mm512_set1_pd(r.slope);
    const __m512d zero = _mm512_setzero_pd();
    __m512d vmax = _mm512_set1_pd(-INFINITY);
    for (int64_t k = 0; k < deg; ++k) {
      const int64_t j = r.ix[b + k];
      if (b + k + GAT_PREFETCH < r.nnz)  // the source's logit half, some edges ahead (random rows)
        _mm_prefetch(reinterpret_cast<const char*>(r.s_src + r.ix[b + k + GAT_PREFETCH] * H + h0), _MM_HINT_T0);
      const __m512i e = _mm512_add_epi64(_mm512_maskz_loadu_epi64(m, r.s_src + j * H + h0), sd);
      __m512d v = _mm512_mul_pd(_mm512_cvtepi64_pd(e), se);
      v = _mm512_mask_mul_pd(v, _mm512_cmp_pd_mask(v, zero, _CMP_LT_OQ), v, slope);
      _mm512_mask_storeu_pd(y + k * H + h0, m, v);
      vmax = _mm512_mask_mov_pd(vmax, _mm512_cmp_pd_mask(v, vmax, _CMP_GT_OQ), v);
    }
    const __m512d l2e = _mm512_set1_pd(r.log2e);
    __m512i sum = _mm512_setzero_si512();
    for (int64_t k = 0; k < deg; ++k) {
      const __m512d yk = _mm512_mul_pd(_mm512_sub_pd(vmax, _mm512_maskz_loadu_pd(m, y + k * H + h0)), l2e);
      const __m512i wk = _mm512_maskz_mov_epi64(m, exp2_fixed8(yk, r.poly, r.np));
      _mm512_mask_storeu_epi64(w + k * H + h0, m, wk);
      sum = _mm512_add_epi64(sum, wk);
    }
    const __m512d sumd = _mm512_cvtepi64_pd(sum), sc = _mm512_set1_pd(r.scale), zp = _mm512_set1_pd(r.zp);
    const __m512d lo = _mm512_set1_pd(r.qmin), hi = _mm512_set1_pd(r.qmax);
    for (int64_t k = 0; k < deg; ++k) {
      const __m512d a = _mm512_div_pd(_mm512_cvtepi64_pd(_mm512_maskz_loadu_epi64(m, w + k * H + h0)), sumd);
      __m512d q = _mm512_add_pd(_mm512_roundscale_pd(_mm512_div_pd(a, sc), _MM_FROUND_TO_NEAREST_INT |
                                                                                 _MM_FROUND_NO_EXC), zp);
      q = _mm512_sub_pd(_mm512_min_pd(_mm512_max_pd(q, lo), hi), zp);
      _mm512_mask_cvtepi64_storeu_epi8(r.out + (b + k) * H + h0, m, _mm512_cvtpd_epi64(q));
    }
  }
}
#endif

#if DQ_X86
// One head (every GAT's output layer): the same ops, eight edges per vector instead of eight heads (with heads
// along the lanes, one head would use one lane of eight). The row maximum and the int64 sum are order-free.
AVX512 void gat_row1_avx512(const GatRow& r, int64_t i, double* y, int64_t* w) {
  const int64_t b = r.ip[i], deg = r.ip[i + 1] - b;
  const __m512i sd = _mm512_set1_epi64(r.s_dst[i]);
  const __m512d se = _mm512_set1_pd(r.se[0]), slope = _mm512_set1_pd(r.slope), zero = _mm512_setzero_pd();
  __m512d vmax = _mm512_set1_pd(-INFINITY);
  for (int64_t k = 0; k < deg; k += 8) {
    const __mmask8 m = static_cast<__mmask8>(tail_mask16(deg - k));
    for (int64_t e = b + k + GAT_PREFETCH; e < std::min(b + k + GAT_PREFETCH + 8, r.nnz); ++e)
      _mm_prefetch(reinterpret_cast<const char*>(r.s_src + r.ix[e]), _MM_HINT_T0);
    const __m256i j = _mm256_maskz_loadu_epi32(m, r.ix + b + k);
    const __m512i s = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), m, j, r.s_src, 8);
    __m512d v = _mm512_mul_pd(_mm512_cvtepi64_pd(_mm512_add_epi64(s, sd)), se);
    v = _mm512_mask_mul_pd(v, _mm512_cmp_pd_mask(v, zero, _CMP_LT_OQ), v, slope);
    _mm512_mask_storeu_pd(y + k, m, v);
    vmax = _mm512_mask_mov_pd(vmax, m & _mm512_cmp_pd_mask(v, vmax, _CMP_GT_OQ), v);
  }
  const __m512d vm = _mm512_set1_pd(_mm512_reduce_max_pd(vmax)), l2e = _mm512_set1_pd(r.log2e);
  __m512i sum = _mm512_setzero_si512();
  for (int64_t k = 0; k < deg; k += 8) {
    const __mmask8 m = static_cast<__mmask8>(tail_mask16(deg - k));
    const __m512d yk = _mm512_mul_pd(_mm512_sub_pd(vm, _mm512_maskz_loadu_pd(m, y + k)), l2e);
    const __m512i wk = _mm512_maskz_mov_epi64(m, exp2_fixed8(yk, r.poly, r.np));
    _mm512_mask_storeu_epi64(w + k, m, wk);
    sum = _mm512_add_epi64(sum, wk);
  }
  const __m512d sumd = _mm512_set1_pd(static_cast<double>(_mm512_reduce_add_epi64(sum)));
  const __m512d sc = _mm512_set1_pd(r.scale), zp = _mm512_set1_pd(r.zp);
  const __m512d lo = _mm512_set1_pd(r.qmin), hi = _mm512_set1_pd(r.qmax);
  for (int64_t k = 0; k < deg; k += 8) {
    const __mmask8 m = static_cast<__mmask8>(tail_mask16(deg - k));
    const __m512d a = _mm512_div_pd(_mm512_cvtepi64_pd(_mm512_maskz_loadu_epi64(m, w + k)), sumd);
    __m512d q = _mm512_add_pd(_mm512_roundscale_pd(_mm512_div_pd(a, sc), _MM_FROUND_TO_NEAREST_INT |
                                                                               _MM_FROUND_NO_EXC), zp);
    q = _mm512_sub_pd(_mm512_min_pd(_mm512_max_pd(q, lo), hi), zp);
    _mm512_mask_cvtepi64_storeu_epi8(r.out + b + k, m, _mm512_cvtpd_epi64(q));
  }
}
#endif

void gat_attention(uintptr_t indptr, uintptr_t indices, int64_t N, int H, int C, uintptr_t x, int64_t xs, int x_zp,
                   uintptr_t a_src, uintptr_t a_dst, uintptr_t se, double slope, uintptr_t poly, int np,
                   double log2e, double scale, double zp, double qmin, double qmax, uintptr_t out,
                   const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  if (H < 1 || H > MAX_HEADS) throw heads_error("gat_attention");
  const int8_t* xp = reinterpret_cast<const int8_t*>(x);
  const int32_t* as = reinterpret_cast<const int32_t*>(a_src);
  const int32_t* ad = reinterpret_cast<const int32_t*>(a_dst);
  const size_t nh = static_cast<size_t>(N) * H;
  LineAligned<int64_t> s_src(nh), s_dst(nh);
  const int64_t* ip = reinterpret_cast<const int64_t*>(indptr);
  const GatRow r{ip, reinterpret_cast<const int32_t*>(indices), s_src.p, s_dst.p,
                 reinterpret_cast<const double*>(se), reinterpret_cast<const double*>(poly), np, H, ip[N],
                 slope, log2e, scale, zp, qmin, qmax, reinterpret_cast<uint8_t*>(out)};
  py::gil_scoped_release release;
#pragma omp parallel num_threads(nthreads(threads))
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i) {  // per-node logit halves
#if DQ_X86
      if (p == VNNI) {
        node_scores_avx512(xp + i * xs, H, C, x_zp, as, ad, s_src.p + i * H, s_dst.p + i * H);
        continue;
      }
#endif
      node_scores_scalar(xp + i * xs, H, C, x_zp, as, ad, s_src.p + i * H, s_dst.p + i * H);
    }
    std::vector<double> y;
    std::vector<int64_t> w;
#pragma omp for schedule(dynamic, 256)
    for (int64_t i = 0; i < N; ++i) {
      const int64_t deg = r.ip[i + 1] - r.ip[i];
      if (deg == 0) continue;
      if (y.size() < static_cast<size_t>(deg) * H) y.resize(deg * H), w.resize(deg * H);
#if DQ_X86
      if (p == VNNI) {
        (H == 1 ? gat_row1_avx512 : gat_row_avx512)(r, i, y.data(), w.data());
        continue;
      }
#endif
      gat_row_scalar(r, i, y.data(), w.data());
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The FP32 control of the same structure (latency trials): float logits from float features, per-destination
// softmax with a float 2^-y polynomial (Taylor, degree 7: relative error below 2e-6), float coefficients [nnz][H].
// ---------------------------------------------------------------------------------------------------------
constexpr float F32_POLY[8] = {1.0f, -0.693147182f, 0.240226507f, -0.0555041087f, 0.00961812911f, -0.00133335581f,
                               0.000154035304f, -1.52527338e-05f};  // 2^-f = e^(-f ln 2), f in [0, 1)

#if DQ_X86
AVX512 inline __m512 exp2_neg16(__m512 y) {  // 2^-y for y >= 0 (0 from y >= 126)
  const __mmask16 live = _mm512_cmp_ps_mask(y, _mm512_set1_ps(126.0f), _CMP_LT_OQ);
  const __m512 n = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(y, n);
  __m512 p = _mm512_set1_ps(F32_POLY[7]);
  for (int j = 6; j >= 0; --j) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(F32_POLY[j]));
  const __m512i e = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_set1_epi32(127), _mm512_cvttps_epi32(n)), 23);
  return _mm512_maskz_mul_ps(live, p, _mm512_castsi512_ps(e));
}

AVX512 float dot_f32(const float* a, const float* b, int n) {
  __m512 s = _mm512_setzero_ps();
  for (int c = 0; c < n; c += 16) {
    const __mmask16 m = tail_mask16(std::min(16, n - c));
    s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + c), _mm512_maskz_loadu_ps(m, b + c), s);
  }
  return _mm512_reduce_add_ps(s);
}

AVX512 void gat_row_f32_avx512(const int64_t* ip, const int32_t* ix, int64_t nnz, const float* s_src,
                               const float* s_dst, int64_t i, int H, float slope, float* y, float* out) {
  const int64_t b = ip[i], deg = ip[i + 1] - b;
  const __mmask16 m = tail_mask16(H);
  const __m512 sd = _mm512_maskz_loadu_ps(m, s_dst + i * H), sl = _mm512_set1_ps(slope), zero = _mm512_setzero_ps();
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t k = 0; k < deg; ++k) {
    if (b + k + GAT_PREFETCH < nnz)  // as the INT8 kernel does
      _mm_prefetch(reinterpret_cast<const char*>(s_src + static_cast<int64_t>(ix[b + k + GAT_PREFETCH]) * H), _MM_HINT_T0);
    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, s_src + static_cast<int64_t>(ix[b + k]) * H), sd);
    v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, sl);
    _mm512_mask_storeu_ps(y + k * H, m, v);
    vmax = _mm512_max_ps(vmax, v);
  }
  const __m512 l2e = _mm512_set1_ps(1.44269504f);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t k = 0; k < deg; ++k) {
    const __m512 e = exp2_neg16(_mm512_mul_ps(_mm512_sub_ps(vmax, _mm512_maskz_loadu_ps(m, y + k * H)), l2e));
    _mm512_mask_storeu_ps(y + k * H, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), sum);
  for (int64_t k = 0; k < deg; ++k)
    _mm512_mask_storeu_ps(out + (b + k) * H, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + k * H), inv));
}

// One head: sixteen edges per vector, as the INT8 kernel's one-head rows.
AVX512 void gat_row1_f32_avx512(const int64_t* ip, const int32_t* ix, int64_t nnz, const float* s_src,
                                const float* s_dst, int64_t i, float slope, float* y, float* out) {
  const int64_t b = ip[i], deg = ip[i + 1] - b;
  const __m512 sd = _mm512_set1_ps(s_dst[i]), sl = _mm512_set1_ps(slope), zero = _mm512_setzero_ps();
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t k = 0; k < deg; k += 16) {
    const __mmask16 m = tail_mask16(deg - k);
    for (int64_t e = b + k + GAT_PREFETCH; e < std::min(b + k + GAT_PREFETCH + 16, nnz); ++e)
      _mm_prefetch(reinterpret_cast<const char*>(s_src + ix[e]), _MM_HINT_T0);
    const __m512i j = _mm512_maskz_loadu_epi32(m, ix + b + k);
    __m512 v = _mm512_add_ps(_mm512_mask_i32gather_ps(zero, m, j, s_src, 4), sd);
    v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, sl);
    _mm512_mask_storeu_ps(y + k, m, v);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, v);
  }
  const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(vmax)), l2e = _mm512_set1_ps(1.44269504f);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t k = 0; k < deg; k += 16) {
    const __mmask16 m = tail_mask16(deg - k);
    const __m512 e = exp2_neg16(_mm512_mul_ps(_mm512_sub_ps(vm, _mm512_maskz_loadu_ps(m, y + k)), l2e));
    _mm512_mask_storeu_ps(y + k, m, e);
    sum = _mm512_mask_add_ps(sum, m, sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int64_t k = 0; k < deg; k += 16) {
    const __mmask16 m = tail_mask16(deg - k);
    _mm512_mask_storeu_ps(out + b + k, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + k), inv));
  }
}
#endif

// Runs on the "vnni" path only (the control is measured where the INT8 kernels use AVX-512).
void gat_attention_f32(uintptr_t indptr, uintptr_t indices, int64_t N, int H, int C, uintptr_t h, uintptr_t a_src,
                       uintptr_t a_dst, float slope, uintptr_t out, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  if (p != VNNI) throw std::invalid_argument("gat_attention_f32: the vnni path only");
  if (H < 1 || H > MAX_HEADS) throw heads_error("gat_attention_f32");
#if DQ_X86
  const int64_t* ip = reinterpret_cast<const int64_t*>(indptr);
  const int32_t* ix = reinterpret_cast<const int32_t*>(indices);
  const float* hp = reinterpret_cast<const float*>(h);
  const float* as = reinterpret_cast<const float*>(a_src);
  const float* ad = reinterpret_cast<const float*>(a_dst);
  float* op = reinterpret_cast<float*>(out);
  const size_t nh = static_cast<size_t>(N) * H;
  LineAligned<float> s_src(nh), s_dst(nh);
  py::gil_scoped_release release;
#pragma omp parallel num_threads(nthreads(threads))
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i)
      for (int k = 0; k < H; ++k) {
        s_src.p[i * H + k] = dot_f32(hp + i * H * C + k * C, as + k * C, C);
        s_dst.p[i * H + k] = dot_f32(hp + i * H * C + k * C, ad + k * C, C);
      }
    std::vector<float> y;
#pragma omp for schedule(dynamic, 256)
    for (int64_t i = 0; i < N; ++i) {
      const int64_t deg = ip[i + 1] - ip[i];
      if (static_cast<int64_t>(y.size()) < deg * H) y.resize(deg * H);
      if (H == 1)
        gat_row1_f32_avx512(ip, ix, ip[N], s_src.p, s_dst.p, i, slope, y.data(), op);
      else
        gat_row_f32_avx512(ip, ix, ip[N], s_src.p, s_dst.p, i, H, slope, y.data(), op);
    }
  }
#else
  (void)indptr, (void)indices, (void)N, (void)C, (void)h, (void)a_src, (void)a_dst, (void)slope, (void)out,
      (void)threads;
#endif
}
