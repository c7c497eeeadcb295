// Deterministic row scatter-sum for training (included by kernels.cpp, inside its anonymous namespace).
// out[i] = init[i] (or 0) + the rows src[e] with index[e] == i, added one by one in ascending e: the order in
// which a one-thread index_add_ / index_put_(accumulate) adds them, so the result is bit-identical to those, and
// the same at any thread count (each output row is summed by one thread; rows are shared out, edges are not).
// The edges are bucketed by their row with a stable counting sort (O(E + N)), then rows run in parallel.
#pragma once

// src: E rows of F floats; index: E int64 row numbers in [0, N); init: N rows of F floats or 0; out: N x F floats.
void scatter_rows_f32(uintptr_t src, uintptr_t index, int64_t E, int64_t F, uintptr_t init, int64_t N,
                      uintptr_t out, int threads) {
  const float* sp = reinterpret_cast<const float*>(src);
  const int64_t* ip = reinterpret_cast<const int64_t*>(index);
  const float* in = reinterpret_cast<const float*>(init);
  float* op = reinterpret_cast<float*>(out);
  std::vector<int64_t> start(static_cast<size_t>(N) + 1, 0);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t i = ip[e];
    if (i < 0 || i >= N) throw std::out_of_range("scatter_rows: index " + std::to_string(i) + " out of range");
    ++start[i + 1];
  }
  for (int64_t i = 0; i < N; ++i) start[i + 1] += start[i];
  std::vector<int64_t> order(static_cast<size_t>(E));
  {
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (int64_t e = 0; e < E; ++e) order[next[ip[e]]++] = e;  // stable: ascending e within a row
  }
  py::gil_scoped_release release;
#pragma omp parallel for num_threads(nthreads(threads)) schedule(dynamic, 64)
  for (int64_t i = 0; i < N; ++i) {
    float* o = op + i * F;
    if (in) {
      std::memcpy(o, in + i * F, sizeof(float) * F);
    } else {
      for (int64_t c = 0; c < F; ++c) o[c] = 0.0f;
    }
    for (int64_t k = start[i]; k < start[i + 1]; ++k) {
      const float* s = sp + order[k] * F;
      for (int64_t c = 0; c < F; ++c) o[c] += s[c];
    }
  }
}
