// Degree-Quant's percentile range estimate in one call (included by kernels.cpp, inside its anonymous namespace).
// The same values as dqbench.quant.observers.PercentileObserver's PyTorch ops: the sample is x[idx[j]] for the
// given indices (or every element when there are none), less the elements of protected rows; lo and hi are its
// k-th smallest values for k = round(tail * (m - 1)) + 1 and round((1 - tail) * (m - 1)) + 1 (round half to
// even, as Python's round; m kept values), NaN ordered above every number as torch.kthvalue orders it.
#pragma once

// a < b with NaN above every number (and equal to itself)
inline bool nan_last_less(float a, float b) { return std::isnan(b) ? !std::isnan(a) : a < b; }

// The k-th (0-based) of v in the order `before`, for small k: one pass keeping the k + 1 first in a heap (its top
// the last of them). A new value rarely enters the heap, so the pass's branches are well predicted; nth_element
// over a fresh random sample mispredicts, and took ~3x as long on 8,192 values.
template <class Before>
float kth_in_order(const std::vector<float>& v, int64_t k, Before before) {
  std::vector<float> heap(v.begin(), v.begin() + k + 1);
  std::make_heap(heap.begin(), heap.end(), before);
  for (size_t j = static_cast<size_t>(k) + 1; j < v.size(); ++j) {
    if (!before(v[j], heap.front())) continue;
    std::pop_heap(heap.begin(), heap.end(), before);
    heap.back() = v[j];
    std::push_heap(heap.begin(), heap.end(), before);
  }
  return heap.front();
}

// x: n floats in rows of row_len; idx: m int64 indices into x, or 0 (all n); protect: one byte per row, or 0.
// Returns (kept, lo, hi, min, max); min and max (NaN if any value is NaN, as torch.min/max) for the caller's
// sparse-data rule. kept == 0: nothing to estimate, the other fields are 0.
py::tuple percentile_range(uintptr_t x, int64_t n, uintptr_t idx, int64_t m, uintptr_t protect, int64_t row_len,
                           double tail) {
  const float* xp = reinterpret_cast<const float*>(x);
  const int64_t* ip = reinterpret_cast<const int64_t*>(idx);
  const uint8_t* pr = reinterpret_cast<const uint8_t*>(protect);
  const int64_t count = ip ? m : n;
  std::vector<float> v;
  v.reserve(static_cast<size_t>(count));
  for (int64_t j = 0; j < count; ++j) {
    const int64_t k = ip ? ip[j] : j;
    if (k < 0 || k >= n) throw std::out_of_range("percentile_range: index out of range");
    if (pr && pr[k / row_len]) continue;
    v.push_back(xp[k]);
  }
  const int64_t kept = static_cast<int64_t>(v.size());
  if (kept == 0) return py::make_tuple(0, 0.0, 0.0, 0.0, 0.0);
  float vmin = v[0], vmax = v[0];
  bool any_nan = false;
  for (float f : v) {
    any_nan |= std::isnan(f);
    vmin = std::min(vmin, f);
    vmax = std::max(vmax, f);
  }
  if (any_nan) vmin = vmax = std::nanf("");
  const double last = static_cast<double>(kept - 1);
  const int64_t k_lo = static_cast<int64_t>(std::nearbyint(tail * last));  // 0-based ranks
  const int64_t k_hi = static_cast<int64_t>(std::nearbyint((1.0 - tail) * last));
  if (k_lo + 1 <= kept / 16 && kept - k_hi <= kept / 16) {  // the tails Degree-Quant uses (0.1%, 1%)
    const auto nan_last_greater = [](float a, float b) { return nan_last_less(b, a); };
    const float lo = kth_in_order(v, k_lo, nan_last_less), hi = kth_in_order(v, kept - 1 - k_hi, nan_last_greater);
    return py::make_tuple(kept, lo, hi, vmin, vmax);
  }
  std::nth_element(v.begin(), v.begin() + k_lo, v.end(), nan_last_less);
  const float lo = v[k_lo];
  // everything after k_lo is >= lo: the hi rank lies there (k_hi >= k_lo as tail < 0.5)
  std::nth_element(v.begin() + k_lo, v.begin() + k_hi, v.end(), nan_last_less);
  return py::make_tuple(kept, lo, v[k_hi], vmin, vmax);
}
