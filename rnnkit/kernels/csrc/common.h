// Helpers shared by the compiled recurrences (lstm.cpp, gru.cpp): step products with weights reused
// by every step, row-wise layer norm, zoneout's hashed masks, and compile-time option flags.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
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

// Products below this many multiply-adds are done by hand: BLAS's call overhead dominates them.
constexpr int64_t kSmallProduct = 1 << 15;
// Rows of gate maths are split among threads in chunks of about this many elements: small enough that
// both threads get work at B >= 16, large enough that a chunk outweighs the cost of handing it out
// (the sizes compared are in benchmarks/README.md).
constexpr int64_t kParallelWork = 1 << 13;

// MKL's packed GEMM, found at run time in the torch library already loaded (absent in non-MKL builds):
// the weights are packed once per pass through time and reused by every step's skinny product.
using PackGetSize = size_t (*)(int, int64_t, int64_t, int64_t);
using Pack = void (*)(int, int, int, int64_t, int64_t, int64_t, float, const float*, int64_t, float*);
using Compute = void (*)(int, int, int, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                         float, float*, int64_t);
struct Mkl {
  PackGetSize get_size = nullptr;
  Pack pack = nullptr;
  Compute compute = nullptr;
  Mkl() {
    // torch's library is loaded privately (RTLD_LOCAL): find it by an address inside it
    Dl_info info{};
    void* self = nullptr;
    if (dladdr(reinterpret_cast<void*>(&at::_ops::mm::call), &info) && info.dli_fname)
      self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (!self) return;
    get_size = reinterpret_cast<PackGetSize>(dlsym(self, "cblas_sgemm_pack_get_size"));
    pack = reinterpret_cast<Pack>(dlsym(self, "cblas_sgemm_pack"));
    compute = reinterpret_cast<Compute>(dlsym(self, "cblas_sgemm_compute"));
    if (!get_size || !pack || !compute) get_size = nullptr;
  }
};
inline const Mkl& mkl() { static Mkl m; return m; }
constexpr int kRowMajor = 101, kNoTrans = 111, kPacked = 151, kBMatrix = 162;

// A weight W (K, N) that every step multiplies: out (M, N) = [base (M, N) +] A (M, K) @ W.
// Small products are done by hand (BLAS's call overhead dominates them); large float ones by MKL's
// packed GEMM where torch has it; the rest by ATen's mm.
template <typename T>
struct StepWeight {
  const T* W;
  int64_t M, K, N;
  at::TensorOptions opts;
  Tensor packed;  // bytes of MKL's packed W, when used

  StepWeight(const Tensor& w, int64_t M_) : W(w.data_ptr<T>()), M(M_), K(w.size(0)), N(w.size(1)), opts(w.options()) {
    if constexpr (std::is_same_v<T, float>) {
      if (M * K * N > kSmallProduct && mkl().get_size) {
        packed = at::empty({int64_t(mkl().get_size(kBMatrix, M, N, K))}, opts.dtype(at::kByte));
        mkl().pack(kRowMajor, kBMatrix, kNoTrans, M, N, K, 1.0f, W, N, reinterpret_cast<float*>(packed.data_ptr()));
      }
    }
  }

  void operator()(T* out, const T* base, const T* A) const {
    if (M * K * N <= kSmallProduct) {
      for (int64_t m = 0; m < M; ++m) {
        T* __restrict o = out + m * N;
        if (base) { for (int64_t n = 0; n < N; ++n) o[n] = base[m * N + n]; }
        else { for (int64_t n = 0; n < N; ++n) o[n] = T(0); }
        for (int64_t k = 0; k < K; ++k) {
          const T a = A[m * K + k];
          const T* __restrict w = W + k * N;
          for (int64_t n = 0; n < N; ++n) o[n] += a * w[n];
        }
      }
      return;
    }
    if constexpr (std::is_same_v<T, float>) {
      if (packed.defined()) {
        if (base && base != out) std::copy(base, base + M * N, out);
        mkl().compute(kRowMajor, kNoTrans, kPacked, M, N, K, A, K, reinterpret_cast<const float*>(packed.data_ptr()),
                      N, base ? 1.0f : 0.0f, out, N);
        return;
      }
    }
    Tensor o = at::from_blob(out, {M, N}, opts);
    Tensor a = at::from_blob(const_cast<T*>(A), {M, K}, opts);
    Tensor w = at::from_blob(const_cast<T*>(W), {K, N}, opts);
    if (base) at::addmm_out(o, at::from_blob(const_cast<T*>(base), {M, N}, opts), a, w);
    else at::mm_out(o, a, w);
  }
};

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
