// dqbench integer kernels: int8 CSR SpMM and int8 GEMM with a fused requantization epilogue, plus FP32 and
// INT32 kernels of the same structure (the honest controls). Raw pointers only (no libtorch ABI).
// Paths are chosen at run time: "vnni" (AVX-512 VNNI), "avx2", "scalar"; one binary runs on any x86-64 CPU
// and the scalar path compiles anywhere.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef DQ_SOURCE_HASH
#define DQ_SOURCE_HASH ""
#endif

#include "epilogue.h"

#if (defined(__x86_64__) || defined(__i386__)) && !defined(DQ_NO_X86)
#define DQ_X86 1
#include <immintrin.h>
#else
#define DQ_X86 0
#endif

namespace py = pybind11;
using namespace dq;

namespace {

enum Path { SCALAR = 0, AVX2 = 1, VNNI = 2 };

Path parse_path(const std::string& p) {
  if (p == "vnni") return VNNI;
  if (p == "avx2") return AVX2;
  if (p == "scalar") return SCALAR;
  throw std::invalid_argument("unknown kernel path '" + p + "'");
}

bool cpu_has(const char* what) {
#if DQ_X86
  __builtin_cpu_init();
  std::string w(what);
  if (w == "vnni")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
  if (w == "vbmi") return __builtin_cpu_supports("avx512vbmi");
  if (w == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  (void)what;
#endif
  return false;
}

std::string best_path() {
  if (cpu_has("vnni")) return "vnni";
  if (cpu_has("avx2")) return "avx2";
  return "scalar";
}

void check_path(Path p) {
  if (p == VNNI && !cpu_has("vnni")) throw std::runtime_error("this CPU has no AVX-512 VNNI");
  if (p == AVX2 && !cpu_has("avx2")) throw std::runtime_error("this CPU has no AVX2");
}

int nthreads(int t) { return t > 0 ? t : 1; }

// Calls body(i0, rows, acc) for each tile of up to `tile` rows of [0, N), in parallel (dynamic schedule, `chunk`
// tiles at a time); acc is the calling thread's scratch of tile * F int32 (+64 spare). The caller drops the GIL.
template <typename Body>
void parallel_row_tiles(int64_t N, int tile, int F, int threads, int chunk, Body&& body) {
  const int64_t tiles = (N + tile - 1) / tile;
#pragma omp parallel num_threads(nthreads(threads))
  {
    std::vector<int32_t> buf(static_cast<size_t>(tile) * F + 64);
#pragma omp for schedule(dynamic, chunk)
    for (int64_t t = 0; t < tiles; ++t) {
      int64_t i0 = t * tile;
      body(i0, static_cast<int>(std::min<int64_t>(tile, N - i0)), buf.data());
    }
  }
}

constexpr int MAX_HEADS = 16;  // per-head edge weights and GAT attention; exported as _kernels.MAX_HEADS
inline std::invalid_argument heads_error(const char* what, const char* extra = "") {
  return std::invalid_argument(std::string(what) + ": 1 to " + std::to_string(MAX_HEADS) + " heads" + extra);
}

int g_prefetch = 32;  // SpMM software prefetch distance, in edges

// ---------------------------------------------------------------------------------------------------------
// Epilogue: scalar reference
// ---------------------------------------------------------------------------------------------------------
inline float quant1(float v, float qs, float zp, float lo, float hi) {
  float r = std::nearbyint(v / qs) + zp;
  return std::min(std::max(r, lo), hi);
}

// The epilogue's inputs for row i: column scales and biases, the row divisor, the self term's row (int8 codes, or
// int32 ones), the per-channel table; null where unused.
struct EpiRow {
  const float* alpha; const float* beta; const float* rdiv; const int8_t* self; const int32_t* self32;
  const int8_t* lut;
};

inline EpiRow epi_row(const Epi& e, int64_t i) {
  return {reinterpret_cast<const float*>(e.alpha), reinterpret_cast<const float*>(e.beta),
          reinterpret_cast<const float*>(e.row_div),
          e.self_ && !e.self_i32 ? reinterpret_cast<const int8_t*>(e.self_) + i * e.self_stride : nullptr,
          e.self_ && e.self_i32 ? reinterpret_cast<const int32_t*>(e.self_) + i * e.self_stride : nullptr,
          reinterpret_cast<const int8_t*>(e.lut)};
}

void epi_scalar(const Epi& e, int64_t i, const int32_t* acc, int c0, int c1) {
  const auto [alpha, beta, rdiv, self, self32, lut] = epi_row(e, i);
  for (int c = c0; c < c1; ++c) {
    float v = static_cast<float>(acc[c]) * alpha[c];
    if (rdiv) v = v / rdiv[i];
    if (self) v = v + (static_cast<float>(self[c]) - e.self_zp) * e.self_scale;
    if (self32) v = v + (static_cast<float>(self32[c]) - e.self_zp) * e.self_scale;
    if (beta) v = v + beta[c];
    if (e.relu) v = std::max(v, 0.f);
    float q = quant1(v, e.qscale, e.qzp, e.qmin, e.qmax);
    for (int s = 0; s < e.nsteps; ++s) {
      float x = (q - e.s_zp[s]) * e.s_scale[s];
      if (e.s_bias[s]) x = x + reinterpret_cast<const float*>(e.s_bias[s])[c];
      if (e.s_relu[s]) x = std::max(x, 0.f);
      q = quant1(x, e.s_qscale[s], e.s_qzp[s], e.s_qmin[s], e.s_qmax[s]);
    }
    int qi = static_cast<int>(q);
    if (lut) qi = lut[static_cast<int64_t>(c) * 256 + static_cast<uint8_t>(qi)];
    if (e.out_kind == OUT_I8) {
      reinterpret_cast<int8_t*>(e.out)[i * e.out_stride + c] = static_cast<int8_t>(qi);
    } else if (e.out_kind == OUT_I32) {
      reinterpret_cast<int32_t*>(e.out)[i * e.out_stride + c] = qi;
    } else {
      reinterpret_cast<float*>(e.out)[i * e.out_stride + c] = (static_cast<float>(qi) - e.out_zp) * e.out_scale;
    }
  }
}

#if DQ_X86
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define AVX512VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi")))
#define AVX2F __attribute__((target("avx2,fma")))

// Lanes [0, n) of a 16-lane mask, n clipped to [0, 16]: the tail of a row or span.
inline __mmask16 tail_mask16(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1);
}

AVX512 inline __m512 quant16(__m512 v, float qs, float zp, float lo, float hi) {
  __m512 r = _mm512_roundscale_ps(_mm512_div_ps(v, _mm512_set1_ps(qs)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm512_add_ps(r, _mm512_set1_ps(zp));
  return _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(lo)), _mm512_set1_ps(hi));
}

// relu that matches std::max(v, 0.f) for every non-NaN input (the sign of zero never changes a code)
AVX512 inline __m512 relu16(__m512 v) { return _mm512_max_ps(v, _mm512_setzero_ps()); }

AVX512 void epi_avx512(const Epi& e, int64_t i, const int32_t* acc, int c0, int c1) {
  const auto [alpha, beta, rdiv, self, self32, lut] = epi_row(e, i);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int c = c0; c < c1; c += 16) {
    int n = std::min(16, c1 - c);
    __mmask16 m = tail_mask16(n);
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + c)),
                             _mm512_maskz_loadu_ps(m, alpha + c));
    if (rdiv) v = _mm512_div_ps(v, _mm512_set1_ps(rdiv[i]));
    if (self || self32) {
      __m512i s = self ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, self + c))
                       : _mm512_maskz_loadu_epi32(m, self32 + c);
      __m512 sf = _mm512_sub_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(e.self_zp));
      v = _mm512_add_ps(v, _mm512_mul_ps(sf, _mm512_set1_ps(e.self_scale)));
    }
    if (beta) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, beta + c));
    if (e.relu) v = relu16(v);
    __m512 q = quant16(v, e.qscale, e.qzp, e.qmin, e.qmax);
    for (int s = 0; s < e.nsteps; ++s) {
      __m512 x = _mm512_mul_ps(_mm512_sub_ps(q, _mm512_set1_ps(e.s_zp[s])), _mm512_set1_ps(e.s_scale[s]));
      if (e.s_bias[s]) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(e.s_bias[s]) + c));
      if (e.s_relu[s]) x = relu16(x);
      q = quant16(x, e.s_qscale[s], e.s_qzp[s], e.s_qmin[s], e.s_qmax[s]);
    }
    __m512i qi = _mm512_cvtps_epi32(q);
    if (lut) {
      __m512i idx = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(c)), 8),
                                     _mm512_and_si512(qi, _mm512_set1_epi32(255)));
      __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, lut, 1);
      qi = _mm512_srai_epi32(_mm512_slli_epi32(g, 24), 24);
    }
    if (e.out_kind == OUT_I8) {
      _mm512_mask_cvtepi32_storeu_epi8(reinterpret_cast<int8_t*>(e.out) + i * e.out_stride + c, m, qi);
    } else if (e.out_kind == OUT_I32) {
      _mm512_mask_storeu_epi32(reinterpret_cast<int32_t*>(e.out) + i * e.out_stride + c, m, qi);
    } else {
      __m512 f = _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(qi), _mm512_set1_ps(e.out_zp)),
                               _mm512_set1_ps(e.out_scale));
      _mm512_mask_storeu_ps(reinterpret_cast<float*>(e.out) + i * e.out_stride + c, m, f);
    }
  }
}
#endif

#if DQ_X86
AVX2F inline __m256 quant8(__m256 v, float qs, float zp, float lo, float hi) {
  __m256 r = _mm256_round_ps(_mm256_div_ps(v, _mm256_set1_ps(qs)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm256_add_ps(r, _mm256_set1_ps(zp));
  return _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(lo)), _mm256_set1_ps(hi));
}

// The epilogue eight columns at a time (the same IEEE ops in the same order as epi_scalar, so the same bits);
// the table lookup and the store run per element, the columns past the last eight through epi_scalar.
AVX2F void epi_avx2(const Epi& e, int64_t i, const int32_t* acc, int c0, int c1) {
  const auto [alpha, beta, rdiv, self, self32, lut] = epi_row(e, i);
  const int c8 = c0 + (c1 - c0) / 8 * 8;
  alignas(32) int32_t q8[8];
  for (int c = c0; c < c8; c += 8) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + c))),
                             _mm256_loadu_ps(alpha + c));
    if (rdiv) v = _mm256_div_ps(v, _mm256_set1_ps(rdiv[i]));
    if (self || self32) {
      __m256i sv = self ? _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(self + c)))
                        : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(self32 + c));
      __m256 sf = _mm256_sub_ps(_mm256_cvtepi32_ps(sv), _mm256_set1_ps(e.self_zp));
      v = _mm256_add_ps(v, _mm256_mul_ps(sf, _mm256_set1_ps(e.self_scale)));
    }
    if (beta) v = _mm256_add_ps(v, _mm256_loadu_ps(beta + c));
    if (e.relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
    __m256 q = quant8(v, e.qscale, e.qzp, e.qmin, e.qmax);
    for (int s = 0; s < e.nsteps; ++s) {
      __m256 x = _mm256_mul_ps(_mm256_sub_ps(q, _mm256_set1_ps(e.s_zp[s])), _mm256_set1_ps(e.s_scale[s]));
      if (e.s_bias[s]) x = _mm256_add_ps(x, _mm256_loadu_ps(reinterpret_cast<const float*>(e.s_bias[s]) + c));
      if (e.s_relu[s]) x = _mm256_max_ps(x, _mm256_setzero_ps());
      q = quant8(x, e.s_qscale[s], e.s_qzp[s], e.s_qmin[s], e.s_qmax[s]);
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(q8), _mm256_cvtps_epi32(q));
    for (int l = 0; l < 8; ++l) {
      int qi = q8[l];
      if (lut) qi = lut[static_cast<int64_t>(c + l) * 256 + static_cast<uint8_t>(qi)];
      if (e.out_kind == OUT_I8) {
        reinterpret_cast<int8_t*>(e.out)[i * e.out_stride + c + l] = static_cast<int8_t>(qi);
      } else if (e.out_kind == OUT_I32) {
        reinterpret_cast<int32_t*>(e.out)[i * e.out_stride + c + l] = qi;
      } else {
        reinterpret_cast<float*>(e.out)[i * e.out_stride + c + l] = (static_cast<float>(qi) - e.out_zp) * e.out_scale;
      }
    }
  }
  if (c8 < c1) epi_scalar(e, i, acc, c8, c1);
}
#endif

inline void epi(Path p, const Epi& e, int64_t i, const int32_t* acc, int c0, int c1) {
#if DQ_X86
  if (p == VNNI) return epi_avx512(e, i, acc, c0, c1);
  if (p == AVX2) return epi_avx2(e, i, acc, c0, c1);
#endif
  (void)p;
  epi_scalar(e, i, acc, c0, c1);
}

// ---------------------------------------------------------------------------------------------------------
// int8 CSR SpMM: acc[i, c] = sum_e w[e, head(c)] * (x[j_e, c] - x_zp)   (w = 1 when unweighted)
// ---------------------------------------------------------------------------------------------------------
struct Csr {
  const int64_t* indptr;
  const int32_t* indices;
  const uint8_t* w;  // [nnz, H] or null (binary)
  int H;             // weight columns (1 when binary)
  int C;             // columns per head
  int64_t nnz;       // indptr[rows]
  const int32_t* hidx = nullptr;   // vnni, H > 1: per 64-column chunk k and interleave m, the head of each lane
  const int32_t* chead = nullptr;  // vnni, H > 1: the head of each column (F entries)
};

void spmm_row_scalar(const Csr& g, int64_t i, const int8_t* x, int64_t xs, int x_zp, int F, int32_t* acc) {
  std::fill(acc, acc + F, 0);
  int32_t rs[64] = {0};
  for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
    const int8_t* row = x + static_cast<int64_t>(g.indices[e]) * xs;
    if (!g.w) {
      for (int c = 0; c < F; ++c) acc[c] += row[c];
      rs[0] += 1;
    } else if (g.H == 1) {
      int32_t w = g.w[e];
      for (int c = 0; c < F; ++c) acc[c] += w * row[c];
      rs[0] += w;
    } else {
      for (int c = 0; c < F; ++c) acc[c] += static_cast<int32_t>(g.w[e * g.H + c / g.C]) * row[c];
      for (int h = 0; h < g.H; ++h) rs[h] += g.w[e * g.H + h];
    }
  }
  for (int c = 0; c < F; ++c) acc[c] -= x_zp * rs[g.H > 1 ? c / g.C : 0];
}

#if DQ_X86
// Two edges at a time: both gathered rows widened to int16 and interleaved, so one vpmaddwd multiplies the two
// edges' weights with one column each and adds both into that column's int32 lane; a chunk's accumulators (64
// columns: 8 ymm) stay in registers while the row's edges stream, chunk after chunk (the rows stay in L1).
// Unpacking interleaves within 128-bit lanes: per 16 columns, `lo` holds columns 0-3 | 8-11 and `hi` 4-7 | 12-15;
// the store puts them back in order. Per-head weights (GAT) need whole heads of 16 columns.
AVX2F void spmm_row_avx2(const Csr& g, int64_t i, const int8_t* x, int64_t xs, int x_zp, int F, int32_t* acc) {
  if (g.H > 1 && g.C % 16) return spmm_row_scalar(g, i, x, xs, x_zp, F, acc);
  const int F16 = F - F % 16;  // columns past the last whole 16 (narrow outputs: 7 or 40 classes) run scalar
  const int64_t beg = g.indptr[i], end = g.indptr[i + 1];
  int32_t rs[64] = {0};
  for (int64_t e = beg; e < end; ++e) {
    if (!g.w) rs[0] += 1;
    else for (int h = 0; h < g.H; ++h) rs[h] += g.w[e * g.H + h];
  }
  for (int c0 = 0; c0 < F16; c0 += 64) {
    const int nb = std::min(4, (F16 - c0) / 16);
    __m256i lo[4], hi[4];
    for (int b = 0; b < 4; ++b) lo[b] = hi[b] = _mm256_setzero_si256();
    for (int64_t e = beg; e < end; e += 2) {
      const bool pair = e + 1 < end;
      if (c0 == 0 && e + g_prefetch + 2 <= g.nnz) {
        for (int t = g_prefetch; t < g_prefetch + 2; ++t) {
          const char* p = reinterpret_cast<const char*>(x + static_cast<int64_t>(g.indices[e + t]) * xs);
          _mm_prefetch(p, _MM_HINT_T0);
          if (F > 64) _mm_prefetch(p + 64, _MM_HINT_T0);
        }
      }
      const int8_t* r0 = x + static_cast<int64_t>(g.indices[e]) * xs + c0;
      const int8_t* r1 = pair ? x + static_cast<int64_t>(g.indices[e + 1]) * xs + c0 : r0;
      for (int b = 0; b < nb; ++b) {
        const int h = g.H > 1 ? (c0 + 16 * b) / g.C : 0;
        const int32_t w0 = g.w ? g.w[e * g.H + h] : 1;
        const int32_t w1 = pair ? (g.w ? g.w[(e + 1) * g.H + h] : 1) : 0;
        const __m256i wv = _mm256_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(w1) << 16) |
                                                                  static_cast<uint32_t>(w0)));
        const __m256i a = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + 16 * b)));
        const __m256i c = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r1 + 16 * b)));
        lo[b] = _mm256_add_epi32(lo[b], _mm256_madd_epi16(_mm256_unpacklo_epi16(a, c), wv));
        hi[b] = _mm256_add_epi32(hi[b], _mm256_madd_epi16(_mm256_unpackhi_epi16(a, c), wv));
      }
    }
    for (int b = 0; b < nb; ++b) {
      const int col = c0 + 16 * b;
      const __m256i zp = _mm256_set1_epi32(x_zp * rs[g.H > 1 ? col / g.C : 0]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + col),
                          _mm256_sub_epi32(_mm256_permute2x128_si256(lo[b], hi[b], 0x20), zp));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + col + 8),
                          _mm256_sub_epi32(_mm256_permute2x128_si256(lo[b], hi[b], 0x31), zp));
    }
  }
  int F8 = F16;
  if (F - F16 >= 8 && !(g.H > 1)) {  // one 8-column block (40 classes: 32 + 8), the same two-edge scheme in xmm
    __m128i lo8 = _mm_setzero_si128(), hi8 = _mm_setzero_si128();
    for (int64_t e = beg; e < end; e += 2) {
      const bool pair = e + 1 < end;
      const int8_t* r0 = x + static_cast<int64_t>(g.indices[e]) * xs + F16;
      const int8_t* r1 = pair ? x + static_cast<int64_t>(g.indices[e + 1]) * xs + F16 : r0;
      const int32_t w0 = g.w ? g.w[e] : 1;
      const int32_t w1 = pair ? (g.w ? g.w[e + 1] : 1) : 0;
      const __m128i wv = _mm_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(w1) << 16) |
                                                             static_cast<uint32_t>(w0)));
      const __m128i a = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r0)));
      const __m128i c = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r1)));
      lo8 = _mm_add_epi32(lo8, _mm_madd_epi16(_mm_unpacklo_epi16(a, c), wv));
      hi8 = _mm_add_epi32(hi8, _mm_madd_epi16(_mm_unpackhi_epi16(a, c), wv));
    }
    const __m128i zp = _mm_set1_epi32(x_zp * rs[0]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + F16), _mm_sub_epi32(lo8, zp));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + F16 + 4), _mm_sub_epi32(hi8, zp));
    F8 = F16 + 8;
  }
  for (int c = F8; c < F; ++c) {
    int32_t sum = 0;
    const int h = g.H > 1 ? c / g.C : 0;
    for (int64_t e = beg; e < end; ++e)
      sum += (g.w ? static_cast<int32_t>(g.w[e * g.H + h]) : 1) * x[static_cast<int64_t>(g.indices[e]) * xs + c];
    acc[c] = sum - x_zp * rs[h];
  }
}

// Four edges at a time: bytes of the four gathered rows are interleaved so that one vpdpbusd multiplies the
// four (u8) edge weights with the four (s8) features of one column and adds them into its int32 lane.
// HEADS (per-head weights, GAT): the four edges' weights are transposed into one dword per head, and each
// interleaved vector takes its lanes' heads with one permute.
// rsum (if not null) collects the weight sums for the zero-point correction: lane h holds head h's sum
// (every lane the one sum without HEADS), one dpbusd with ones per four edges.
template <int NC, bool FULL, bool HEADS>
AVX512VNNI void spmm_panel_vnni(const Csr& g, int64_t i, const int8_t* x, int64_t xs, int col0, int ncols,
                                int32_t* acc, __m512i* rsum) {
  __m512i a[NC][4];
  __mmask64 cm[NC];
  #pragma GCC unroll 16
  for (int k = 0; k < NC; ++k) {
    int n = std::min(64, ncols - 64 * k);
    cm[k] = n >= 64 ? ~0ULL : ((1ULL << n) - 1);
    #pragma GCC unroll 16
    for (int m = 0; m < 4; ++m) a[k][m] = _mm512_setzero_si512();
  }
  const int64_t beg = g.indptr[i], end = g.indptr[i + 1];
  const int8_t* base = x + col0;
  for (int64_t e = beg; e < end; e += 4) {
    int r = static_cast<int>(std::min<int64_t>(4, end - e));
    if (e + g_prefetch + 4 <= g.nnz) {  // across row ends too: short rows are the common case
      for (int t = g_prefetch; t < g_prefetch + 4; ++t) {
        const char* p = reinterpret_cast<const char*>(base + static_cast<int64_t>(g.indices[e + t]) * xs);
        _mm_prefetch(p, _MM_HINT_T0);
        if (ncols > 64) _mm_prefetch(p + 64, _MM_HINT_T0);
      }
    }
    __m512i wv;
    if (HEADS) {  // dword h = w[e, h] | w[e+1, h] << 8 | ... (rows past the end: weight 0)
      const __mmask16 hm = tail_mask16(g.H);
      wv = _mm512_setzero_si512();
      #pragma GCC unroll 4
      for (int t = 0; t < 4; ++t) {
        __m512i wt = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(t < r ? hm : 0, g.w + (e + t) * g.H));
        wv = _mm512_or_si512(wv, _mm512_slli_epi32(wt, 8 * t));
      }
    }
    uint32_t wd = 0;
    const int8_t* rows[4];
    if (__builtin_expect(r == 4, 1)) {
      if (!HEADS) {
        if (g.w) std::memcpy(&wd, g.w + e, 4);
        else wd = 0x01010101u;
      }
      #pragma GCC unroll 4
      for (int t = 0; t < 4; ++t) rows[t] = base + static_cast<int64_t>(g.indices[e + t]) * xs;
    } else {  // fewer than 4 edges left: repeat the first row with weight 0
      wd = 0;
      for (int t = 0; t < 4; ++t) {
        int tt = t < r ? t : 0;
        rows[t] = base + static_cast<int64_t>(g.indices[e + tt]) * xs;
        if (!HEADS && t < r) wd |= static_cast<uint32_t>(g.w ? g.w[e + t] : 1) << (8 * t);
      }
    }
    if (!HEADS) wv = _mm512_set1_epi32(static_cast<int>(wd));
    if (rsum) *rsum = _mm512_dpbusd_epi32(*rsum, wv, _mm512_set1_epi8(1));
    #pragma GCC unroll 16
    for (int k = 0; k < NC; ++k) {
      __m512i v[4];
      #pragma GCC unroll 4
      for (int t = 0; t < 4; ++t)
        v[t] = FULL ? _mm512_loadu_si512(rows[t] + 64 * k) : _mm512_maskz_loadu_epi8(cm[k], rows[t] + 64 * k);
      __m512i t0 = _mm512_unpacklo_epi8(v[0], v[1]), t1 = _mm512_unpackhi_epi8(v[0], v[1]);
      __m512i t2 = _mm512_unpacklo_epi8(v[2], v[3]), t3 = _mm512_unpackhi_epi8(v[2], v[3]);
      __m512i w4[4];
      #pragma GCC unroll 4
      for (int m = 0; m < 4; ++m)
        w4[m] = HEADS ? _mm512_permutexvar_epi32(_mm512_loadu_si512(g.hidx + ((col0 / 64 + k) * 4 + m) * 16), wv) : wv;
      a[k][0] = _mm512_dpbusd_epi32(a[k][0], w4[0], _mm512_unpacklo_epi16(t0, t2));
      a[k][1] = _mm512_dpbusd_epi32(a[k][1], w4[1], _mm512_unpackhi_epi16(t0, t2));
      a[k][2] = _mm512_dpbusd_epi32(a[k][2], w4[2], _mm512_unpacklo_epi16(t1, t3));
      a[k][3] = _mm512_dpbusd_epi32(a[k][3], w4[3], _mm512_unpackhi_epi16(t1, t3));
    }
  }
  // a[k][m], 128-bit block L holds columns 16L + 4m .. +3: transpose the 4x4 grid of blocks back to order.
  #pragma GCC unroll 16
  for (int k = 0; k < NC; ++k) {
    __m512i u0 = _mm512_shuffle_i32x4(a[k][0], a[k][1], 0x44), u1 = _mm512_shuffle_i32x4(a[k][0], a[k][1], 0xEE);
    __m512i u2 = _mm512_shuffle_i32x4(a[k][2], a[k][3], 0x44), u3 = _mm512_shuffle_i32x4(a[k][2], a[k][3], 0xEE);
    int32_t* o = acc + col0 + 64 * k;
    _mm512_storeu_si512(o, _mm512_shuffle_i32x4(u0, u2, 0x88));
    _mm512_storeu_si512(o + 16, _mm512_shuffle_i32x4(u0, u2, 0xDD));
    _mm512_storeu_si512(o + 32, _mm512_shuffle_i32x4(u1, u3, 0x88));
    _mm512_storeu_si512(o + 48, _mm512_shuffle_i32x4(u1, u3, 0xDD));
  }
}

// One row on the vnni path: panels of up to 256 columns, then the zero-point correction x_zp * (weight sum of
// the column's head), sixteen columns at a time.
template <bool HEADS>
AVX512VNNI void spmm_row_vnni_t(const Csr& g, int64_t i, const int8_t* x, int64_t xs, int x_zp, int F,
                                int32_t* acc) {
  __m512i rsum = _mm512_setzero_si512();
  for (int col0 = 0; col0 < F; col0 += 256) {
    int nc = std::min(256, F - col0);
    const bool full = nc % 64 == 0;
    __m512i* rs = col0 == 0 && x_zp ? &rsum : nullptr;  // weight sums: once per row, when there is a zero point
    switch ((nc + 63) / 64) {
      case 1: full ? spmm_panel_vnni<1, true, HEADS>(g, i, x, xs, col0, nc, acc, rs) : spmm_panel_vnni<1, false, HEADS>(g, i, x, xs, col0, nc, acc, rs); break;
      case 2: full ? spmm_panel_vnni<2, true, HEADS>(g, i, x, xs, col0, nc, acc, rs) : spmm_panel_vnni<2, false, HEADS>(g, i, x, xs, col0, nc, acc, rs); break;
      case 3: full ? spmm_panel_vnni<3, true, HEADS>(g, i, x, xs, col0, nc, acc, rs) : spmm_panel_vnni<3, false, HEADS>(g, i, x, xs, col0, nc, acc, rs); break;
      default: full ? spmm_panel_vnni<4, true, HEADS>(g, i, x, xs, col0, nc, acc, rs) : spmm_panel_vnni<4, false, HEADS>(g, i, x, xs, col0, nc, acc, rs); break;
    }
  }
  if (!x_zp) return;
  const __m512i zp = _mm512_set1_epi32(x_zp);
  for (int c = 0; c < F; c += 16) {
    const __mmask16 m = tail_mask16(F - c);
    __m512i rs = HEADS ? _mm512_permutexvar_epi32(_mm512_maskz_loadu_epi32(m, g.chead + c), rsum) : rsum;
    __m512i a = _mm512_maskz_loadu_epi32(m, acc + c);
    _mm512_mask_storeu_epi32(acc + c, m, _mm512_sub_epi32(a, _mm512_mullo_epi32(zp, rs)));
  }
}

AVX512VNNI void spmm_row_vnni(const Csr& g, int64_t i, const int8_t* x, int64_t xs, int x_zp, int F,
                              int32_t* acc) {
  if (g.H > 1) return spmm_row_vnni_t<true>(g, i, x, xs, x_zp, F, acc);
  spmm_row_vnni_t<false>(g, i, x, xs, x_zp, F, acc);
}
#endif

void spmm_i8(uintptr_t indptr, uintptr_t indices, uintptr_t w, int H, int C, int64_t N, uintptr_t x, int64_t xs,
             int x_zp, int F, const Epi& e, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  if (H > 64) throw std::invalid_argument("at most 64 heads");
  if (H > MAX_HEADS && p == VNNI) throw heads_error("the vnni path");
  Csr g{reinterpret_cast<const int64_t*>(indptr), reinterpret_cast<const int32_t*>(indices),
        reinterpret_cast<const uint8_t*>(w), w ? H : 1, w && H > 1 ? C : F,
        reinterpret_cast<const int64_t*>(indptr)[N]};
  const int8_t* xp = reinterpret_cast<const int8_t*>(x);
  // vnni, per-head weights: lane l of interleaved vector m of 64-column chunk k holds column 64k + 16(l/4) + 4m + l%4
  std::vector<int32_t> hidx, chead;
  if (g.H > 1 && p == VNNI) {
    const int chunks = (F + 63) / 64;
    hidx.resize(static_cast<size_t>(chunks) * 64);
    for (int k = 0; k < chunks; ++k)
      for (int m = 0; m < 4; ++m)
        for (int l = 0; l < 16; ++l) hidx[(k * 4 + m) * 16 + l] = std::min((64 * k + 16 * (l / 4) + 4 * m + l % 4) / g.C, g.H - 1);
    for (int c = 0; c < F; ++c) chead.push_back(std::min(c / g.C, g.H - 1));
    g.hidx = hidx.data();
    g.chead = chead.data();
  }
  py::gil_scoped_release release;
  parallel_row_tiles(N, 1, F, threads, 64, [&](int64_t i, int, int32_t* acc) {
#if DQ_X86
    if (p == VNNI) spmm_row_vnni(g, i, xp, xs, x_zp, F, acc);
    else if (p == AVX2) spmm_row_avx2(g, i, xp, xs, x_zp, F, acc);
    else spmm_row_scalar(g, i, xp, xs, x_zp, F, acc);
#else
    spmm_row_scalar(g, i, xp, xs, x_zp, F, acc);
#endif
    epi(p, e, i, acc, 0, F);
  });
}

// ---------------------------------------------------------------------------------------------------------
// int8 GEMM: acc[i, c] = sum_k (x[i,k] - x_zp)(W[c,k] - w_zp)
//   computed as dot(i, c) - rowmult * rowsum(x_i) - colterm[c], where colterm[c] = x_zp * sum_k W[c,k] - K x_zp w_zp
//   vnni:   W packed as u8 (W + 128), [panel of 64 cols][K/4][64][4]; dot = sum (W+128) x; rowmult = 128 + w_zp
//   avx2:   W packed as int16 pairs [panel][K/2][64][2]; rowmult = w_zp
//   scalar: W raw int8 [F, K]; rowmult = w_zp
// ---------------------------------------------------------------------------------------------------------
struct Gemm {
  const int8_t* x; int64_t N; int K; int64_t xs;
  const void* wp; int F; int rowmult; const int32_t* colterm;
};

void gemm_rows_scalar(const Gemm& g, int64_t i0, int R, int32_t* acc /*[R][F]*/) {
  const int8_t* W = static_cast<const int8_t*>(g.wp);
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const int8_t* xr = g.x + (i0 + r) * g.xs;
    int32_t rs = 0;
    for (int k = 0; k < g.K; ++k) rs += xr[k];
    for (int c = 0; c < g.F; ++c) {
      int32_t d = 0;
      const int8_t* wr = W + static_cast<int64_t>(c) * g.K;
      for (int k = 0; k < g.K; ++k) d += static_cast<int32_t>(xr[k]) * wr[k];
      acc[r * g.F + c] = d - g.rowmult * rs - g.colterm[c];
    }
  }
}

#if DQ_X86
// R rows x 16 columns per block (2 x 8 int32 lanes): each pair of weights loaded once serves all R rows, each
// row's feature pair (two int8 widened to int16, one dword) is broadcast once per block and k2. R <= 6 keeps the
// 12 accumulators, 2 weight vectors and the broadcast in the 16 ymm registers.
template <int R>
AVX2F void gemm_block_avx2(const int16_t* wpanel, int K2, const int32_t* xpairs, int j, __m256i* out) {
  __m256i a[R][2];
  #pragma GCC unroll 6
  for (int r = 0; r < R; ++r) a[r][0] = a[r][1] = _mm256_setzero_si256();
  for (int k2 = 0; k2 < K2; ++k2) {
    const int16_t* wk = wpanel + k2 * 128 + 32 * j;
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk + 16));
    #pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256i b = _mm256_set1_epi32(xpairs[r * K2 + k2]);
      a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(w0, b));
      a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(w1, b));
    }
  }
  #pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    out[2 * r] = a[r][0];
    out[2 * r + 1] = a[r][1];
  }
}

AVX2F void gemm_rows_avx2(const Gemm& g, int64_t i0, int R, int32_t* acc) {
  const int16_t* W = static_cast<const int16_t*>(g.wp);
  const int K2 = (g.K + 1) / 2, P = (g.F + 63) / 64;
  thread_local std::vector<int32_t> pairs;
  pairs.resize(static_cast<size_t>(R) * K2);
  int32_t rs[8];
  for (int r = 0; r < R; ++r) {  // each row's features as int16 pairs (the packed weights' layout), and its sum
    const int8_t* xr = g.x + (i0 + r) * g.xs;
    int32_t sum = 0;
    for (int k = 0; k < g.K; ++k) sum += xr[k];
    rs[r] = sum;
    for (int k2 = 0; k2 < K2; ++k2) {
      int16_t lo = xr[2 * k2], hi = 2 * k2 + 1 < g.K ? xr[2 * k2 + 1] : 0;
      pairs[r * K2 + k2] = static_cast<int32_t>((static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16) |
                                                static_cast<uint16_t>(lo));
    }
  }
  alignas(32) int32_t t[2 * 6 * 8];
  for (int p = 0; p < P; ++p) {
    const int16_t* wpanel = W + static_cast<int64_t>(p) * K2 * 128;
    const int n = std::min(64, g.F - 64 * p);
    for (int j = 0; 16 * j < n; ++j) {
      __m256i* out = reinterpret_cast<__m256i*>(t);
      switch (R) {
        case 6: gemm_block_avx2<6>(wpanel, K2, pairs.data(), j, out); break;
        case 5: gemm_block_avx2<5>(wpanel, K2, pairs.data(), j, out); break;
        case 4: gemm_block_avx2<4>(wpanel, K2, pairs.data(), j, out); break;
        case 3: gemm_block_avx2<3>(wpanel, K2, pairs.data(), j, out); break;
        case 2: gemm_block_avx2<2>(wpanel, K2, pairs.data(), j, out); break;
        default: gemm_block_avx2<1>(wpanel, K2, pairs.data(), j, out); break;
      }
      const int cols = std::min(16, n - 16 * j);
      for (int r = 0; r < R; ++r)
        for (int c = 0; c < cols; ++c) {
          const int col = 64 * p + 16 * j + c;
          acc[r * g.F + col] = t[16 * r + c] - g.rowmult * rs[r] - g.colterm[col];
        }
    }
  }
}

AVX512 int32_t rowsum_avx512(const int8_t* xr, int K) {
  __m512i s = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int k = 0; k < K; k += 64) {
    int n = std::min(64, K - k);
    __mmask64 m = n >= 64 ? ~0ULL : ((1ULL << n) - 1);
    __m512i v = _mm512_maskz_mov_epi8(m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, xr + k), flip));
    s = _mm512_add_epi64(s, _mm512_sad_epu8(v, _mm512_setzero_si512()));
  }
  return static_cast<int32_t>(_mm512_reduce_add_epi64(s) - 128LL * K);
}

// One 64-column panel p of R rows; NV of its four 16-column vectors are computed (the last panel of a narrow
// output, e.g. 40 classes: 3, not 4), the packed layout is the same.
template <int R, int NV>
AVX512VNNI void gemm_panel_vnni(const Gemm& g, const int8_t* const* xr, const int32_t* rs, int p, int32_t* acc) {
  const uint8_t* W = static_cast<const uint8_t*>(g.wp);
  const int K4 = (g.K + 3) / 4, Kf = g.K / 4;
  __m512i a[R][NV];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) a[r][j] = _mm512_setzero_si512();
  const uint8_t* wp = W + static_cast<int64_t>(p) * K4 * 256;
  for (int k4 = 0; k4 < K4; ++k4) {
    const uint8_t* wk = wp + k4 * 256;
    __m512i w[NV];
    #pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) w[j] = _mm512_loadu_si512(wk + 64 * j);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      int32_t d = 0;
      if (__builtin_expect(k4 < Kf, 1)) std::memcpy(&d, xr[r] + 4 * k4, 4);
      else std::memcpy(&d, xr[r] + 4 * k4, g.K - 4 * k4);
      __m512i b = _mm512_set1_epi32(d);
      #pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) a[r][j] = _mm512_dpbusd_epi32(a[r][j], w[j], b);
    }
  }
  const int n = std::min(64, g.F - 64 * p);
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const __m512i rt = _mm512_set1_epi32(g.rowmult * rs[r]);
    #pragma GCC unroll 4
    for (int j = 0; j < NV && 16 * j < n; ++j) {
      const __mmask16 m = tail_mask16(n - 16 * j);
      const int c = 64 * p + 16 * j;
      __m512i v = _mm512_sub_epi32(_mm512_sub_epi32(a[r][j], rt), _mm512_maskz_loadu_epi32(m, g.colterm + c));
      _mm512_mask_storeu_epi32(acc + r * g.F + c, m, v);
    }
  }
}

template <int R>
AVX512VNNI void gemm_tile_vnni(const Gemm& g, int64_t i0, int32_t* acc) {
  int32_t rs[R];
  const int8_t* xr[R];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    xr[r] = g.x + (i0 + r) * g.xs;
    rs[r] = rowsum_avx512(xr[r], g.K);
  }
  for (int p = 0; p < (g.F + 63) / 64; ++p) {
    switch (std::min(4, (g.F - 64 * p + 15) / 16)) {
      case 1: gemm_panel_vnni<R, 1>(g, xr, rs, p, acc); break;
      case 2: gemm_panel_vnni<R, 2>(g, xr, rs, p, acc); break;
      case 3: gemm_panel_vnni<R, 3>(g, xr, rs, p, acc); break;
      default: gemm_panel_vnni<R, 4>(g, xr, rs, p, acc); break;
    }
  }
}
#endif

constexpr int GEMM_R = 6;

void gemm_i8(uintptr_t x, int64_t N, int K, int64_t xs, uintptr_t wp, int F, int rowmult, uintptr_t colterm,
             const Epi& e, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  Gemm g{reinterpret_cast<const int8_t*>(x), N, K, xs, reinterpret_cast<const void*>(wp), F, rowmult,
         reinterpret_cast<const int32_t*>(colterm)};
  py::gil_scoped_release release;
  parallel_row_tiles(N, GEMM_R, F, threads, 16, [&](int64_t i0, int R, int32_t* acc) {
#if DQ_X86
    if (p == VNNI) {
      switch (R) {
        case 6: gemm_tile_vnni<6>(g, i0, acc); break;
        case 5: gemm_tile_vnni<5>(g, i0, acc); break;
        case 4: gemm_tile_vnni<4>(g, i0, acc); break;
        case 3: gemm_tile_vnni<3>(g, i0, acc); break;
        case 2: gemm_tile_vnni<2>(g, i0, acc); break;
        default: gemm_tile_vnni<1>(g, i0, acc); break;
      }
    } else if (p == AVX2) {
      gemm_rows_avx2(g, i0, R, acc);
    } else {
      gemm_rows_scalar(g, i0, R, acc);
    }
#else
    gemm_rows_scalar(g, i0, R, acc);
#endif
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) epi(p, e, i0 + r, acc + r * F, 0, F);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Input quantization (float -> codes) and a global 256-entry requantization table (int8 -> int8)
// ---------------------------------------------------------------------------------------------------------
#if DQ_X86
AVX512 void quantize_row_avx512(const float* x, int F, float s, float zp, float lo, float hi, int8_t* o) {
  for (int c = 0; c < F; c += 16) {
    int n = std::min(16, F - c);
    __mmask16 m = tail_mask16(n);
    __m512 q = quant16(_mm512_maskz_loadu_ps(m, x + c), s, zp, lo, hi);
    _mm512_mask_cvtepi32_storeu_epi8(o + c, m, _mm512_cvtps_epi32(q));
  }
}

AVX512VBMI void lut8_vbmi(const int8_t* x, int64_t n, const int8_t* lut, int8_t* o) {
  __m512i t0 = _mm512_loadu_si512(lut), t1 = _mm512_loadu_si512(lut + 64);
  __m512i t2 = _mm512_loadu_si512(lut + 128), t3 = _mm512_loadu_si512(lut + 192);
  for (int64_t k = 0; k < n; k += 64) {
    int64_t r = std::min<int64_t>(64, n - k);
    __mmask64 m = r >= 64 ? ~0ULL : ((1ULL << r) - 1);
    __m512i idx = _mm512_maskz_loadu_epi8(m, x + k);
    __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1), hi = _mm512_permutex2var_epi8(t2, idx, t3);
    _mm512_mask_storeu_epi8(o + k, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
  }
}
#endif

void quantize_f32(uintptr_t x, int64_t N, int F, int64_t xs, float s, float zp, float lo, float hi, uintptr_t out,
                  int64_t os, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  const float* xp = reinterpret_cast<const float*>(x);
  int8_t* op = reinterpret_cast<int8_t*>(out);
  py::gil_scoped_release release;
#pragma omp parallel for num_threads(nthreads(threads)) schedule(static)
  for (int64_t i = 0; i < N; ++i) {
#if DQ_X86
    if (p == VNNI) {
      quantize_row_avx512(xp + i * xs, F, s, zp, lo, hi, op + i * os);
      continue;
    }
#endif
    for (int c = 0; c < F; ++c) op[i * os + c] = static_cast<int8_t>(quant1(xp[i * xs + c], s, zp, lo, hi));
  }
}

void lut8(uintptr_t x, int64_t n, uintptr_t lut, uintptr_t out, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  const int8_t* xp = reinterpret_cast<const int8_t*>(x);
  const int8_t* t = reinterpret_cast<const int8_t*>(lut);
  int8_t* op = reinterpret_cast<int8_t*>(out);
  const int64_t chunk = 1 << 16;
  const int64_t nchunks = (n + chunk - 1) / chunk;
#if DQ_X86
  const bool vbmi = p == VNNI && cpu_has("vbmi");
#endif
  py::gil_scoped_release release;
#pragma omp parallel for num_threads(nthreads(threads)) schedule(static)
  for (int64_t b = 0; b < nchunks; ++b) {
    int64_t k0 = b * chunk, k1 = std::min(n, k0 + chunk);
#if DQ_X86
    if (vbmi) {
      lut8_vbmi(xp + k0, k1 - k0, t, op + k0);
      continue;
    }
#endif
    for (int64_t k = k0; k < k1; ++k) op[k] = t[static_cast<uint8_t>(xp[k])];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Controls of the same structure: FP32 CSR SpMM (bias/self/relu fused) and INT32 SpMM / GEMM (epilogue fused)
// ---------------------------------------------------------------------------------------------------------
#if DQ_X86
template <int NC>
AVX512 void spmm_f32_panel(const int64_t* ip, const int32_t* ix, const float* w, int64_t i, const float* x, int F,
                           int col0, float* acc, int64_t nnz, int heads) {
  __m512 a[NC];
  __mmask16 m[NC];
  __m512i head[NC];  // per lane: the head its column belongs to (heads > 1: weights [nnz][heads])
  const int C = F / heads;
  const __mmask16 hm = tail_mask16(heads);
  #pragma GCC unroll 16
  for (int k = 0; k < NC; ++k) {
    int n = std::min(16, F - col0 - 16 * k);
    m[k] = tail_mask16(n);
    a[k] = _mm512_setzero_ps();
    alignas(64) int32_t h[16];
    for (int l = 0; l < 16; ++l) h[l] = std::min(heads - 1, (col0 + 16 * k + l) / C);
    head[k] = _mm512_load_si512(h);
  }
  const int64_t end = ip[i + 1];
  for (int64_t e = ip[i]; e < end; ++e) {
    if (e + 8 < nnz) {
      const char* pf = reinterpret_cast<const char*>(x + static_cast<int64_t>(ix[e + 8]) * F + col0);
      for (int k = 0; k < NC; ++k) _mm_prefetch(pf + 64 * k, _MM_HINT_T0);  // every line of the row
    }
    const float* row = x + static_cast<int64_t>(ix[e]) * F + col0;
    if (w && heads > 1) {
      const __m512 wh = _mm512_maskz_loadu_ps(hm, w + e * heads);
      #pragma GCC unroll 16
      for (int k = 0; k < NC; ++k)
        a[k] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[k], row + 16 * k), _mm512_permutexvar_ps(head[k], wh), a[k]);
    } else if (w) {
      __m512 wv = _mm512_set1_ps(w[e]);
      #pragma GCC unroll 16
      for (int k = 0; k < NC; ++k) a[k] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[k], row + 16 * k), wv, a[k]);
    } else {
      #pragma GCC unroll 16
      for (int k = 0; k < NC; ++k) a[k] = _mm512_add_ps(a[k], _mm512_maskz_loadu_ps(m[k], row + 16 * k));
    }
  }
  #pragma GCC unroll 16
  for (int k = 0; k < NC; ++k) _mm512_mask_storeu_ps(acc + col0 + 16 * k, m[k], a[k]);
}

AVX512 void spmm_f32_row_avx512(const int64_t* ip, const int32_t* ix, const float* w, int64_t i, const float* x,
                                int F, float* acc, int64_t nnz, int heads) {
  for (int col0 = 0; col0 < F; col0 += 128) {
    switch ((std::min(128, F - col0) + 15) / 16) {
      case 1: spmm_f32_panel<1>(ip, ix, w, i, x, F, col0, acc, nnz, heads); break;
      case 2: spmm_f32_panel<2>(ip, ix, w, i, x, F, col0, acc, nnz, heads); break;
      case 3: case 4: spmm_f32_panel<4>(ip, ix, w, i, x, F, col0, acc, nnz, heads); break;
      default: spmm_f32_panel<8>(ip, ix, w, i, x, F, col0, acc, nnz, heads); break;
    }
  }
}

AVX512 void spmm_i32_row_avx512(const int64_t* ip, const int32_t* ix, const int32_t* w, int64_t i, const int32_t* x,
                                int F, int32_t* acc, int64_t nnz) {
  const int nch = (F + 15) / 16;
  for (int k = 0; k < nch; ++k) _mm512_storeu_si512(acc + 16 * k, _mm512_setzero_si512());
  const int64_t end = ip[i + 1];
  for (int64_t e = ip[i]; e < end; ++e) {
    const int32_t* row = x + static_cast<int64_t>(ix[e]) * F;
    if (e + 8 < nnz) {
      const char* pf = reinterpret_cast<const char*>(x + static_cast<int64_t>(ix[e + 8]) * F);
      for (int k = 0; k < nch; ++k) _mm_prefetch(pf + 64 * k, _MM_HINT_T0);  // every line of the row
    }
    __m512i wv = _mm512_set1_epi32(w ? w[e] : 1);
    for (int k = 0; k < nch; ++k) {
      int n = std::min(16, F - 16 * k);
      __mmask16 m = tail_mask16(n);
      __m512i r = _mm512_maskz_loadu_epi32(m, row + 16 * k);
      if (w) r = _mm512_mullo_epi32(r, wv);
      _mm512_storeu_si512(acc + 16 * k, _mm512_add_epi32(_mm512_loadu_si512(acc + 16 * k), r));
    }
  }
}

// int32 GEMM tile: W packed [panel of 64 cols][K][64] int32 (raw codes), x int32 codes
template <int R>
AVX512 void gemm_i32_tile(const int32_t* x, int64_t i0, int K, const int32_t* W, int F, int x_zp, int w_zp,
                          int32_t* acc) {
  const int P = (F + 63) / 64;
  for (int p = 0; p < P; ++p) {
    __m512i a[R][4];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int j = 0; j < 4; ++j) a[r][j] = _mm512_setzero_si512();
    const __m512i wz = _mm512_set1_epi32(w_zp);
    const int32_t* wp = W + static_cast<int64_t>(p) * K * 64;
    for (int k = 0; k < K; ++k) {
      __m512i w0 = _mm512_sub_epi32(_mm512_loadu_si512(wp + k * 64), wz);
      __m512i w1 = _mm512_sub_epi32(_mm512_loadu_si512(wp + k * 64 + 16), wz);
      __m512i w2 = _mm512_sub_epi32(_mm512_loadu_si512(wp + k * 64 + 32), wz);
      __m512i w3 = _mm512_sub_epi32(_mm512_loadu_si512(wp + k * 64 + 48), wz);
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        __m512i b = _mm512_set1_epi32(x[(i0 + r) * K + k] - x_zp);
        a[r][0] = _mm512_add_epi32(a[r][0], _mm512_mullo_epi32(w0, b));
        a[r][1] = _mm512_add_epi32(a[r][1], _mm512_mullo_epi32(w1, b));
        a[r][2] = _mm512_add_epi32(a[r][2], _mm512_mullo_epi32(w2, b));
        a[r][3] = _mm512_add_epi32(a[r][3], _mm512_mullo_epi32(w3, b));
      }
    }
    int n = std::min(64, F - 64 * p);
    alignas(64) int32_t tmp[R][64];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) _mm512_store_si512(tmp[r] + 16 * j, a[r][j]);
    for (int r = 0; r < R; ++r) std::memcpy(acc + r * F + 64 * p, tmp[r], sizeof(int32_t) * n);
  }
}
#endif

// w: one weight per edge, or (heads > 1) [nnz][heads], head h weighting columns [h * F / heads, (h + 1) * F / heads)
void spmm_f32(uintptr_t indptr, uintptr_t indices, uintptr_t w, int heads, int64_t N, uintptr_t x, int F,
              uintptr_t self_x, uintptr_t bias, int relu, uintptr_t out, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  if (heads < 1 || heads > MAX_HEADS || F % heads) throw heads_error("spmm_f32", " dividing F");
  const int C = F / heads;
  const int64_t* ip = reinterpret_cast<const int64_t*>(indptr);
  const int32_t* ix = reinterpret_cast<const int32_t*>(indices);
  const float* wp = reinterpret_cast<const float*>(w);
  const float* xp = reinterpret_cast<const float*>(x);
  const float* sp = reinterpret_cast<const float*>(self_x);
  const float* bp = reinterpret_cast<const float*>(bias);
  float* op = reinterpret_cast<float*>(out);
  py::gil_scoped_release release;
#pragma omp parallel for num_threads(nthreads(threads)) schedule(dynamic, 64)
  for (int64_t i = 0; i < N; ++i) {
    float* o = op + i * F;
#if DQ_X86
    if (p == VNNI) {
      spmm_f32_row_avx512(ip, ix, wp, i, xp, F, o, ip[N], heads);
    } else
#endif
    {
      std::fill(o, o + F, 0.f);
      for (int64_t e = ip[i]; e < ip[i + 1]; ++e) {
        const float* row = xp + static_cast<int64_t>(ix[e]) * F;
        for (int c = 0; c < F; ++c) o[c] += (wp ? wp[e * heads + c / C] : 1.f) * row[c];
      }
    }
    for (int c = 0; c < F; ++c) {
      float v = o[c];
      if (sp) v += sp[i * F + c];
      if (bp) v += bp[c];
      o[c] = relu ? std::max(v, 0.f) : v;
    }
  }
}

void spmm_i32(uintptr_t indptr, uintptr_t indices, uintptr_t w, int64_t N, uintptr_t x, int x_zp, int F,
              const Epi& e, const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  const int64_t* ip = reinterpret_cast<const int64_t*>(indptr);
  const int32_t* ix = reinterpret_cast<const int32_t*>(indices);
  const int32_t* wp = reinterpret_cast<const int32_t*>(w);
  const int32_t* xp = reinterpret_cast<const int32_t*>(x);
  py::gil_scoped_release release;
  parallel_row_tiles(N, 1, F, threads, 64, [&](int64_t i, int, int32_t* acc) {
#if DQ_X86
    if (p == VNNI) {
      spmm_i32_row_avx512(ip, ix, wp, i, xp, F, acc, ip[N]);
    } else
#endif
    {
      std::fill(acc, acc + F, 0);
      for (int64_t k = ip[i]; k < ip[i + 1]; ++k) {
        const int32_t* row = xp + static_cast<int64_t>(ix[k]) * F;
        int32_t wv = wp ? wp[k] : 1;
        for (int c = 0; c < F; ++c) acc[c] += wv * row[c];
      }
    }
    int32_t rs = 0;
    for (int64_t k = ip[i]; k < ip[i + 1]; ++k) rs += wp ? wp[k] : 1;
    for (int c = 0; c < F; ++c) acc[c] -= x_zp * rs;
    epi(p, e, i, acc, 0, F);
  });
}

void gemm_i32(uintptr_t x, int64_t N, int K, uintptr_t wp, int F, int x_zp, int w_zp, const Epi& e,
              const std::string& path, int threads) {
  Path p = parse_path(path);
  check_path(p);
  const int32_t* xp = reinterpret_cast<const int32_t*>(x);
  const int32_t* W = reinterpret_cast<const int32_t*>(wp);
  constexpr int R = 4;
  py::gil_scoped_release release;
  parallel_row_tiles(N, R, F, threads, 16, [&](int64_t i0, int rows, int32_t* acc) {
#if DQ_X86
    if (p == VNNI && rows == R) {
      gemm_i32_tile<R>(xp, i0, K, W, F, x_zp, w_zp, acc);
    } else
#endif
    {
      // W is packed [panel][K][64]: element (c, k) lives at (c / 64) * K * 64 + k * 64 + c % 64
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < F; ++c) {
          int32_t d = 0;
          const int32_t* wc = W + static_cast<int64_t>(c / 64) * K * 64 + c % 64;
          for (int k = 0; k < K; ++k) d += (xp[(i0 + r) * K + k] - x_zp) * (wc[k * 64] - w_zp);
          acc[r * F + c] = d;
        }
    }
    for (int r = 0; r < rows; ++r) epi(p, e, i0 + r, acc + r * F, 0, F);
  });
}

#include "fake_quant.h"     // training-time fake quantization (uses the helpers above)
#include "gat_attention.h"  // GAT attention coefficients in fixed point (uses the helpers above)
#include "percentile.h"     // Degree-Quant's percentile range estimate on a sample
#include "scatter_rows.h"   // deterministic row scatter-sum (training aggregation and gather backward)

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "dqbench integer kernels (int8 CSR SpMM / GEMM with fused requantization, fixed-point GAT attention; "
            "FP32 and INT32 controls)";
  m.attr("MAX_HEADS") = MAX_HEADS;
  m.attr("SOURCE_HASH") = DQ_SOURCE_HASH;  // of csrc/ at build time (dqbench.kernels.build.source_hash)
  py::class_<Epi>(m, "Epi", py::module_local())  // module-local: a JIT build can load beside a stale installed one
      .def(py::init<>())
      .def_readwrite("F", &Epi::F)
      .def_readwrite("alpha", &Epi::alpha)
      .def_readwrite("row_div", &Epi::row_div)
      .def_readwrite("self_", &Epi::self_)
      .def_readwrite("self_stride", &Epi::self_stride)
      .def_readwrite("self_i32", &Epi::self_i32)
      .def_readwrite("self_zp", &Epi::self_zp)
      .def_readwrite("self_scale", &Epi::self_scale)
      .def_readwrite("beta", &Epi::beta)
      .def_readwrite("relu", &Epi::relu)
      .def_readwrite("qscale", &Epi::qscale)
      .def_readwrite("qzp", &Epi::qzp)
      .def_readwrite("qmin", &Epi::qmin)
      .def_readwrite("qmax", &Epi::qmax)
      .def_readwrite("lut", &Epi::lut)
      .def_readwrite("out_kind", &Epi::out_kind)
      .def_readwrite("out_zp", &Epi::out_zp)
      .def_readwrite("out_scale", &Epi::out_scale)
      .def_readwrite("out_stride", &Epi::out_stride)
      .def_readwrite("out", &Epi::out)
      .def_readonly("nsteps", &Epi::nsteps)
      .def("add_step", [](Epi& e, float zp, float scale, uintptr_t bias, int relu, float qscale, float qzp,
                          float qmin, float qmax) {
        if (e.nsteps >= MAX_STEPS) throw std::invalid_argument("too many requantization steps");
        int s = e.nsteps++;
        e.s_zp[s] = zp; e.s_scale[s] = scale; e.s_bias[s] = bias; e.s_relu[s] = relu;
        e.s_qscale[s] = qscale; e.s_qzp[s] = qzp; e.s_qmin[s] = qmin; e.s_qmax[s] = qmax;
      });
  m.def("set_prefetch", [](int edges) { g_prefetch = std::max(4, edges - edges % 4); });
  m.def("cpu_has", &cpu_has);
  m.def("best_path", &best_path);
  m.def("spmm_i8", &spmm_i8);
  m.def("gemm_i8", &gemm_i8);
  m.def("quantize_f32", &quantize_f32);
  m.def("lut8", &lut8);
  m.def("spmm_f32", &spmm_f32);
  m.def("spmm_i32", &spmm_i32);
  m.def("gemm_i32", &gemm_i32);
  m.def("fake_quant_train", &fake_quant_train);
  m.def("zero_where", &zero_where);
  m.def("percentile_range", &percentile_range);
  m.def("scatter_rows_f32", &scatter_rows_f32);
  m.def("gat_attention", &gat_attention);
  m.def("gat_attention_f32", &gat_attention_f32);
}
