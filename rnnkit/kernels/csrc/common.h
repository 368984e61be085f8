// Helpers shared by the compiled recurrences (lstm.cpp, gru.cpp, elman.cpp): the split of the batch among
// threads, step products with weights reused by every step, buffers of a whole pass, row-wise layer norm,
// zoneout's hashed masks, and compile-time option flags.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

namespace rnnkit {

using at::Tensor;
using OptT = std::optional<Tensor>;


// Every tensor an entry point reads is checked before any pointer is taken: on the CPU, contiguous, of the
// dtype of the first input; a wrong one fails with the operator's and the argument's name, never garbage.
inline void check_arg(const char* op, const char* name, const Tensor& t, const Tensor& ref) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is undefined");
  TORCH_CHECK(t.device().is_cpu(), op, ": expected ", name, " on the CPU; received a tensor on ", t.device());
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": expected ", name, " of dtype ", ref.scalar_type(),
              " like the other inputs; received ", t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), op, ": expected ", name, " contiguous; received strides ", t.strides());
}
inline void check_arg(const char* op, const char* name, const OptT& t, const Tensor& ref) {
  if (t.has_value()) check_arg(op, name, *t, ref);
}
#define RNNKIT_CHECK(op, ref, t) ::rnnkit::check_arg(op, #t, t, ref)
// The shape of one argument: its number of dimensions and each size that is fixed (-1: any).
inline void check_shape(const char* op, const char* name, const Tensor& t, std::vector<int64_t> shape) {
  bool ok = t.dim() == static_cast<int64_t>(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || t.size(i) == shape[i];
  TORCH_CHECK(ok, op, ": expected ", name, " of shape ", c10::IntArrayRef(shape), " (-1: any); received ", t.sizes());
}
inline void check_shape(const char* op, const char* name, const OptT& t, std::vector<int64_t> shape) {
  if (t.has_value()) check_shape(op, name, *t, std::move(shape));
}
#define RNNKIT_SHAPE(op, t, ...) ::rnnkit::check_shape(op, #t, t, {__VA_ARGS__})

template <typename T> inline T sigm(T x) { return T(1) / (T(1) + std::exp(-x)); }

template <typename T> inline const T* ptr(const OptT& t) { return t.has_value() ? t->data_ptr<T>() : nullptr; }
template <typename T> inline T* mptr(OptT& t) { return t.has_value() ? t->data_ptr<T>() : nullptr; }

// double products below this many multiply-adds are done by hand: BLAS's call overhead dominates them.
constexpr int64_t kSmallProduct = 1 << 15;
// The input layer norm's rows (all T*B of them, before the time loop) are split among threads in chunks of
// about this many elements: large enough that a chunk outweighs the cost of handing it out.
constexpr int64_t kParallelWork = 1 << 13;

// The batch split among the threads once for a whole pass through time. Rows never meet in a recurrence
// (forward or backward; the weight gradients are formed afterwards), so each thread walks every step for
// its own block of rows: no synchronisation between steps, and a thread that the machine delays delays
// only its own rows. Blocks differ in height by at most one row.
struct RowBlocks {
  int64_t B, n;
  explicit RowBlocks(int64_t B_) : B(B_), n(std::max<int64_t>(1, std::min<int64_t>(B_, at::get_num_threads()))) {}
  int64_t begin(int64_t i) const { return i * B / n; }
  int64_t end(int64_t i) const { return (i + 1) * B / n; }
  // f(b0, b1) once per block [b0, b1), the blocks in parallel
  template <typename F> void run(const F& f) const {
    at::parallel_for(0, n, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) f(begin(i), end(i));
    });
  }
};

// The float step products' own kernel. W (K, N) is packed once per pass into panels of kPanel columns
// (K x kPanel each, the last zero-padded); each panel is multiplied by blocks of up to kRows rows of A whose
// kRows x kPanel results stay in 12 vector registers for the whole K loop: the register blocking of BLIS's
// AVX2 sgemm micro-kernel (Van Zee and van de Geijn 2015, "BLIS: a framework for rapidly instantiating BLAS
// functionality"). At the skinny shapes of a recurrence (M = a thread's batch rows) it ran 1.06-1.5x
// faster than torch.mm (MKL's sgemm) at B >= 16 and 2.3-2.6x at B = 1, on one thread of the development
// machine (benchmarks/README.md); MKL's packed GEMM had run at about sgemm's rate.
#if defined(__AVX512F__)
constexpr int64_t kLanes = 16;
#else
constexpr int64_t kLanes = 8;
#endif
using VecF = float __attribute__((vector_size(kLanes * sizeof(float))));
constexpr int64_t kPanel = 2 * kLanes, kRows = 6;

inline VecF load_vec(const float* p) { VecF v; std::memcpy(&v, p, sizeof v); return v; }
inline void store_vec(float* p, VecF v) { std::memcpy(p, &v, sizeof v); }

// out (R, nc) = [base +] A (R, K) @ one panel's first nc columns; out and base rows N apart
template <int R>
inline void panel_block(const float* A, int64_t K, const float* panel, float* out, const float* base, int64_t N,
                        int64_t nc) {
  VecF acc[R][2] = {};
  for (int64_t k = 0; k < K; ++k) {
    __builtin_prefetch(panel + (k + 8) * kPanel);
    const VecF w0 = load_vec(panel + k * kPanel), w1 = load_vec(panel + k * kPanel + kLanes);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const float a = A[r * K + k];
      acc[r][0] += a * w0;
      acc[r][1] += a * w1;
    }
  }
  for (int r = 0; r < R; ++r) {
    float* o = out + r * N;
    const float* b = base ? base + r * N : nullptr;
    if (nc == kPanel) {
      store_vec(o, b ? acc[r][0] + load_vec(b) : acc[r][0]);
      store_vec(o + kLanes, b ? acc[r][1] + load_vec(b + kLanes) : acc[r][1]);
    } else {
      float part[kPanel];
      store_vec(part, acc[r][0]);
      store_vec(part + kLanes, acc[r][1]);
      for (int64_t j = 0; j < nc; ++j) o[j] = b ? part[j] + b[j] : part[j];
    }
  }
}

// out (M, N) = [base +] A (M, K) @ W, W packed by StepWeight; base may be out itself
inline void packed_product(const float* A, int64_t M, int64_t K, const float* packed, float* out, const float* base,
                           int64_t N) {
  for (int64_t n0 = 0; n0 < N; n0 += kPanel) {
    const float* panel = packed + n0 * K;                    // panel n0 / kPanel: K x kPanel floats
    const int64_t nc = std::min(kPanel, N - n0);
    auto rows = [&](auto R, int64_t m) {
      panel_block<decltype(R)::value>(A + m * K, K, panel, out + m * N + n0, base ? base + m * N + n0 : nullptr, N,
                                      nc);
    };
    int64_t m = 0;
    for (; m + kRows <= M; m += kRows) rows(std::integral_constant<int, kRows>{}, m);
    switch (M - m) {
      case 5: rows(std::integral_constant<int, 5>{}, m); break;
      case 4: rows(std::integral_constant<int, 4>{}, m); break;
      case 3: rows(std::integral_constant<int, 3>{}, m); break;
      case 2: rows(std::integral_constant<int, 2>{}, m); break;
      case 1: rows(std::integral_constant<int, 1>{}, m); break;
      default: break;
    }
  }
}

// A weight W (K, N) that every step multiplies: out (M, N) = [base (M, N) +] A (M, K) @ W for one block of M
// rows (base may be out itself). float: packed_product, W packed once here. double (the exactness tests):
// small products by hand, where ATen's call overhead dominates them, the rest by ATen's mm. Called from
// inside RowBlocks::run, where ATen runs on the calling thread alone.
template <typename T>
struct StepWeight {
  const T* W;
  int64_t K, N;
  at::TensorOptions opts;
  Tensor packed;  // float: ceil(N / kPanel) panels of K x kPanel

  explicit StepWeight(const Tensor& w) : W(w.data_ptr<T>()), K(w.size(0)), N(w.size(1)), opts(w.options()) {
    if constexpr (std::is_same_v<T, float>) {
      const int64_t panels = (N + kPanel - 1) / kPanel;
      packed = at::zeros({panels * K * kPanel}, opts);
      float* P = packed.data_ptr<float>();
      for (int64_t p = 0; p < panels; ++p)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t j = 0; j < kPanel && p * kPanel + j < N; ++j)
            P[(p * K + k) * kPanel + j] = W[k * N + p * kPanel + j];
    }
  }

  void operator()(T* out, const T* base, const T* A, int64_t M) const {
    if constexpr (std::is_same_v<T, float>) {
      packed_product(A, M, K, packed.data_ptr<float>(), out, base, N);
    } else if (M * K * N <= kSmallProduct) {
      for (int64_t m = 0; m < M; ++m) {
        T* o = out + m * N;
        if (base) { for (int64_t n = 0; n < N; ++n) o[n] = base[m * N + n]; }
        else { for (int64_t n = 0; n < N; ++n) o[n] = T(0); }
        for (int64_t k = 0; k < K; ++k) {
          const T a = A[m * K + k];
          const T* __restrict w = W + k * N;
          for (int64_t n = 0; n < N; ++n) o[n] += a * w[n];
        }
      }
    } else {
      Tensor o = at::from_blob(out, {M, N}, opts);
      Tensor a = at::from_blob(const_cast<T*>(A), {M, K}, opts);
      Tensor w = at::from_blob(const_cast<T*>(W), {K, N}, opts);
      if (base) at::addmm_out(o, at::from_blob(const_cast<T*>(base), {M, N}, opts), a, w);
      else at::mm_out(o, a, w);
    }
  }
};

// A buffer of a whole pass (T*B rows) as at::empty, backed by 2 MB pages where the system offers them
// (Linux's transparent huge pages in their usual "madvise" mode), asked for before anything touches it:
// faulting in fresh 4 KB pages cost about 5x the writing itself on the development machine (68 against
// 13 ms per 64 MB; benchmarks/README.md), and every pass allocates its buffers afresh. Advice only.
inline Tensor pass_buffer(at::IntArrayRef sizes, const at::TensorOptions& opts) {
  Tensor t = at::empty(sizes, opts);
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t(1) << 21;
  const uintptr_t p = reinterpret_cast<uintptr_t>(t.data_ptr()), n = t.nbytes();
  const uintptr_t a = (p + kHuge - 1) & ~(kHuge - 1), e = (p + n) & ~(kHuge - 1);
  if (n >= 2 * kHuge && e > a) madvise(reinterpret_cast<void*>(a), e - a, MADV_HUGEPAGE);
#endif
  return t;
}

// Mean and 1/sigma of v[0..n), biased variance (torch.nn.LayerNorm).
template <typename T>
inline void moments(const T* v, int64_t n, double eps, T& mean, T& rstd) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) s += v[j];
  mean = s / T(n);
  T q = 0;
#pragma omp simd reduction(+ : q)
  for (int64_t j = 0; j < n; ++j) { const T d = v[j] - mean; q += d * d; }
  rstd = T(1) / std::sqrt(q / T(n) + T(eps));
}

// d v from d v_hat, for v_hat = (v - mean) * rstd: rstd (d - mean(d) - v_hat mean(d v_hat)).
template <typename T>
inline void layer_norm_back(const T* d, const T* v_hat, T rstd, int64_t n, T* out) {
  T s = 0, sv = 0;
#pragma omp simd reduction(+ : s, sv)
  for (int64_t j = 0; j < n; ++j) { s += d[j]; sv += d[j] * v_hat[j]; }
  s /= T(n); sv /= T(n);
  for (int64_t j = 0; j < n; ++j) out[j] = rstd * (d[j] - s - v_hat[j] * sv);
}

// Calls f(std::bool_constant<b1>{}, std::bool_constant<b2>{}, ...) so that option tests inside the
// gate loops are compile-time constants and each loop vectorizes (GCC gives up on branchy ones).
template <bool... Bs, typename F> void with_flags(F&& f) { f(std::bool_constant<Bs>{}...); }
template <bool... Bs, typename F, typename... Rest> void with_flags(F&& f, bool b, Rest... rest) {
  if (b) with_flags<Bs..., true>(f, rest...); else with_flags<Bs..., false>(f, rest...);
}

// Zoneout's masks are not stored: each is a hash of (seed, stream, position), drawn again in the
// backward pass. lowbias32 (C. Wellons) finalises a counter; two rounds with seed-derived keys.
inline uint32_t mix(uint32_t x) {
  x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; x ^= x >> 16;
  return x;
}

// d[j] for j < n of row `row` (= t * B + b): 1 with probability p (training), or p itself (evaluation).
template <typename T>
void zone_row(T* __restrict d, int64_t n, int64_t row, int64_t seed, uint32_t stream, double p, bool train) {
  if (!train) {
    for (int64_t j = 0; j < n; ++j) d[j] = T(p);
    return;
  }
  const uint32_t k1 = mix(uint32_t(uint64_t(seed)) ^ (stream * 0x9E3779B9U));
  const uint32_t k2 = mix(uint32_t(uint64_t(seed) >> 32) + stream);
  const uint32_t threshold = p >= 1.0 ? 0xFFFFFFFFU : uint32_t(p * 4294967296.0);
  const uint32_t base = uint32_t(uint64_t(row) * uint64_t(n));
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const uint32_t x = mix(mix((base + uint32_t(j)) ^ k1) ^ k2);
    d[j] = x < threshold ? T(1) : T(0);
  }
}
constexpr uint32_t kStreamH = 1, kStreamC = 2;

// Zoneout as every kernel receives it: off, or keep-probabilities p (h) and pc (an LSTM's c) with the
// seed their masks are drawn from (training) or the expectation (evaluation).
struct Zone {
  bool on, train;
  double p, pc;
  int64_t seed;
  // this row's masks for a stream (kStreamH uses p, kStreamC pc) written to buf; nullptr when off
  template <typename T> const T* draw(T* buf, int64_t n, int64_t row, uint32_t stream) const {
    if (!on) return nullptr;
    zone_row(buf, n, row, seed, stream, stream == kStreamC ? pc : p, train);
    return buf;
  }
};


// A (T, B) 0/1 length mask: is row b live at step t?
template <typename T> inline bool live(const T* mask, int64_t t, int64_t B, int64_t b) {
  return !mask || mask[t * B + b] != T(0);
}

// Layer norm of the input's share for all T*B rows at once, before the time loop (it does not
// depend on the state): gx = LN(xw) g + bias; keeps x_hat and 1/sigma per row for the backward pass.
template <typename T>
void input_layer_norm(const T* xw, T* gx, T* x_hat, T* rstd, const T* g, const T* bias, int64_t rows, int64_t n,
                      double eps) {
  at::parallel_for(0, rows, std::max<int64_t>(1, kParallelWork / n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T mean, rs;
      moments(xw + r * n, n, eps, mean, rs);
      rstd[r] = rs;
      const T* v = xw + r * n;
      T* xh = x_hat + r * n;
      T* out = gx + r * n;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        xh[j] = (v[j] - mean) * rs;
        out[j] = xh[j] * g[j] + (bias ? bias[j] : T(0));
      }
    }
  });
}

// input_layer_norm backwards: d xw (written over dgx) from dgx, and the gain's and bias's gradients.
template <typename T>
void input_layer_norm_back(T* dgx, const T* x_hat, const T* rstd, const T* g, T* dg, T* db, int64_t rows,
                           int64_t n) {
  // column sums first (they read dgx before it is overwritten); each thread owns a block of columns
  at::parallel_for(0, n, 64, [&](int64_t j0, int64_t j1) {
    for (int64_t r = 0; r < rows; ++r) {
      const T* d = dgx + r * n;
      const T* xh = x_hat + r * n;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) { dg[j] += d[j] * xh[j]; db[j] += d[j]; }
    }
  });
  at::parallel_for(0, rows, std::max<int64_t>(1, kParallelWork / n), [&](int64_t r0, int64_t r1) {
    std::vector<T> scaled(n);
    for (int64_t r = r0; r < r1; ++r) {
      T* d = dgx + r * n;
      for (int64_t j = 0; j < n; ++j) scaled[j] = d[j] * g[j];
      layer_norm_back(scaled.data(), x_hat + r * n, rstd[r], n, d);
    }
  });
}

// What the wrappers do to the carried h, per batch row (n = the state's width):
//   zoneout (d: this row's masks):  y = d h_{t-1} + (1 - d) h_t, carried = y
//   state dropout (s: its mask):    y = h_t, carried = h_t s
//   neither:                        y = carried = h_t
// On entry y holds the cell's h_t; carried is written. Dead rows are the caller's.
template <typename T>
inline void carry_h(T* __restrict y, T* __restrict carried, const T* __restrict h_prev, const T* d, const T* s,
                    int64_t n) {
  if (d) {
    for (int64_t j = 0; j < n; ++j) { y[j] = d[j] * h_prev[j] + (T(1) - d[j]) * y[j]; carried[j] = y[j]; }
  } else if (s) {
    for (int64_t j = 0; j < n; ++j) carried[j] = y[j] * s[j];
  } else {
    for (int64_t j = 0; j < n; ++j) carried[j] = y[j];
  }
}

// carry_h backwards. In: g = d loss / d carried h_t (from step t+1), dy = d loss / d y_t; out: dn = d loss /
// d (the cell's h_t), dd = the share that goes straight to h_{t-1}; ds += d loss / d s (h_t read from y).
template <typename T>
inline void carry_h_back(const T* __restrict g, const T* __restrict dy, const T* d, const T* s, const T* y,
                         T* __restrict ds, T* __restrict dn, T* __restrict dd, int64_t n) {
  if (d) {
    for (int64_t j = 0; j < n; ++j) { const T v = g[j] + dy[j]; dn[j] = (T(1) - d[j]) * v; dd[j] = d[j] * v; }
  } else if (s) {
    for (int64_t j = 0; j < n; ++j) { ds[j] += g[j] * y[j]; dn[j] = g[j] * s[j] + dy[j]; dd[j] = T(0); }
  } else {
    for (int64_t j = 0; j < n; ++j) { dn[j] = g[j] + dy[j]; dd[j] = T(0); }
  }
}

}  // namespace rnnkit
