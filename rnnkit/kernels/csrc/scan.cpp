// The recurrence linear in its state, h_t = a_t * h_{t-1} + b_t, elementwise, for every (b, j) lane at
// once: the gates were computed for all steps before (minGRU / minLSTM, Feng et al. 2024), so a step
// is one fused multiply-add per unit, with no product to wait on. Batch-first (B, T, H) layout; lanes
// split among threads by rows, each row's T x H walked in order, H contiguous (vectorised).
#include "common.h"

namespace rnnkit {

namespace {

template <typename T>
void scan_forward(const T* __restrict A, const T* __restrict Bv, const T* __restrict H0, T* __restrict Hout,
                  int64_t B, int64_t T_, int64_t H) {
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* prev = H0 + b * H;
      for (int64_t t = 0; t < T_; ++t) {
        const int64_t o = (b * T_ + t) * H;
        T* out = Hout + o;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) out[j] = A[o + j] * prev[j] + Bv[o + j];
        prev = out;
      }
    }
  });
}

// g_t = dh_t + a_{t+1} g_{t+1} (walking back); d b_t = g_t; d a_t = g_t h_{t-1}; d h0 = a_0 g_0.
template <typename T>
void scan_backward(const T* __restrict dH, const T* __restrict A, const T* __restrict Hs, const T* __restrict H0,
                   T* __restrict dA, T* __restrict dB, T* __restrict dH0, int64_t B, int64_t T_, int64_t H) {
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> g(H, T(0));
    for (int64_t b = b0; b < b1; ++b) {
      std::fill(g.begin(), g.end(), T(0));
      T* gr = g.data();
      for (int64_t t = T_ - 1; t >= 0; --t) {
        const int64_t o = (b * T_ + t) * H;
        const T* prev = t ? Hs + o - H : H0 + b * H;
        const T* a_next = t + 1 < T_ ? A + o + H : nullptr;
        if (a_next) {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) gr[j] = dH[o + j] + a_next[j] * gr[j];
        } else {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) gr[j] = dH[o + j] + gr[j];
        }
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) { dB[o + j] = gr[j]; dA[o + j] = gr[j] * prev[j]; }
      }
      const T* a0 = A + b * T_ * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) dH0[b * H + j] = a0[j] * gr[j];
    }
  });
}

}  // namespace

Tensor linear_scan_forward(Tensor a, Tensor b, Tensor h0) {
  const char* op = "rnnkit::linear_scan";
  for (auto [name, t] : {std::pair{"a", &a}, {"b", &b}, {"h0", &h0}}) check_arg(op, name, *t, a);
  RNNKIT_SHAPE(op, a, -1, -1, -1);
  const int64_t B = a.size(0), T_ = a.size(1), H = a.size(2);
  RNNKIT_SHAPE(op, b, B, T_, H);
  RNNKIT_SHAPE(op, h0, B, H);
  Tensor h = at::empty_like(a);
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "rnnkit_linear_scan", [&] {
    scan_forward<scalar_t>(a.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), h0.data_ptr<scalar_t>(),
                           h.data_ptr<scalar_t>(), B, T_, H);
  });
  return h;
}

std::vector<Tensor> linear_scan_backward(Tensor dh, Tensor a, Tensor h, Tensor h0) {
  const char* op = "rnnkit::linear_scan_backward";
  for (auto [name, t] : {std::pair{"dh", &dh}, {"a", &a}, {"h", &h}, {"h0", &h0}}) check_arg(op, name, *t, a);
  RNNKIT_SHAPE(op, a, -1, -1, -1);
  const int64_t B = a.size(0), T_ = a.size(1), H = a.size(2);
  RNNKIT_SHAPE(op, dh, B, T_, H);
  RNNKIT_SHAPE(op, h, B, T_, H);
  RNNKIT_SHAPE(op, h0, B, H);
  Tensor da = at::empty_like(a), db = at::empty_like(a), dh0 = at::empty_like(h0);
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "rnnkit_linear_scan_backward", [&] {
    scan_backward<scalar_t>(dh.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                            h0.data_ptr<scalar_t>(), da.data_ptr<scalar_t>(), db.data_ptr<scalar_t>(),
                            dh0.data_ptr<scalar_t>(), B, T_, H);
  });
  return {da, db, dh0};
}

}  // namespace rnnkit

// minGRU and minLSTM whole: the gates of every step from gx = x W + b (computed before, one product),
// then the scan, in one pass per row; the backward pass recomputes the gates from gx instead of
// storing them. KIND 0: minGRU (gx = [k, v]: a = 1 - sigmoid(k), b = sigmoid(k) g(v)); KIND 1: minLSTM
// (gx = [k_f, k_i, v]: a = f / (f + i), b = i / (f + i) g(v)). ACT 0: g(v) = v + 1/2 (v >= 0) or
// sigmoid(v); 1: identity; 2: tanh. mask (B, T) or none: a padding step is a = 1, b = 0. KIND and ACT
// are template parameters so that each unit loop is branch-free and vectorises.
namespace rnnkit {
namespace {

template <int ACT, typename T> inline T g_act(T v) {
  if constexpr (ACT == 0) return v >= T(0) ? v + T(0.5) : sigm(v);
  else if constexpr (ACT == 1) return v;
  else return std::tanh(v);
}
template <int ACT, typename T> inline T g_grad(T v, T gv) {
  if constexpr (ACT == 0) return v >= T(0) ? T(1) : gv * (T(1) - gv);
  else if constexpr (ACT == 1) return T(1);
  else return T(1) - gv * gv;
}

template <int KIND, int ACT, typename T>
void min_forward_row(const T* __restrict g, const T* __restrict prev, T* __restrict out, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    T a, b;
    if constexpr (KIND == 0) {
      const T z = sigm(g[j]);
      a = T(1) - z;
      b = z * g_act<ACT>(g[H + j]);
    } else {
      const T f = sigm(g[j]), i = sigm(g[H + j]), s = T(1) / (f + i);
      a = f * s;
      b = i * s * g_act<ACT>(g[2 * H + j]);
    }
    out[j] = a * prev[j] + b;
  }
}

// One step back: gt = dh + a_next * carry; d gx of the step; a_next <- this step's a.
template <int KIND, int ACT, typename T>
void min_backward_row(const T* __restrict g, const T* __restrict dh, const T* __restrict prev, T* __restrict carry,
                      T* __restrict a_next, T* __restrict d, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T gt = dh[j] + a_next[j] * carry[j];
    carry[j] = gt;
    const T da = gt * prev[j], db = gt;
    if constexpr (KIND == 0) {
      const T z = sigm(g[j]), v = g[H + j], gv = g_act<ACT>(v);
      a_next[j] = T(1) - z;
      d[j] = (db * gv - da) * z * (T(1) - z);
      d[H + j] = db * z * g_grad<ACT>(v, gv);
    } else {
      const T f = sigm(g[j]), i = sigm(g[H + j]), v = g[2 * H + j], gv = g_act<ACT>(v), s = T(1) / (f + i);
      a_next[j] = f * s;
      const T w = (da - db * gv) * s * s;                                 // d/df = w i, d/di = -w f
      d[j] = w * i * f * (T(1) - f);
      d[H + j] = -w * f * i * (T(1) - i);
      d[2 * H + j] = db * i * s * g_grad<ACT>(v, gv);
    }
  }
}

template <int KIND, int ACT, typename T>
void min_forward(const T* GX, const T* H0, const T* M, T* HO, int64_t B, int64_t T_, int64_t H) {
  constexpr int64_t G = KIND == 0 ? 2 : 3;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* prev = H0 + b * H;
      for (int64_t t = 0; t < T_; ++t) {
        T* out = HO + (b * T_ + t) * H;
        if (M && M[b * T_ + t] == T(0)) std::copy(prev, prev + H, out);
        else min_forward_row<KIND, ACT>(GX + (b * T_ + t) * G * H, prev, out, H);
        prev = out;
      }
    }
  });
}

template <int KIND, int ACT, typename T>
void min_backward(const T* DH, const T* GX, const T* HS, const T* H0, const T* M, T* DGX, T* DH0, int64_t B,
                  int64_t T_, int64_t H) {
  constexpr int64_t G = KIND == 0 ? 2 : 3;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> carry(H), a_next(H);
    for (int64_t b = b0; b < b1; ++b) {
      std::fill(carry.begin(), carry.end(), T(0));
      std::fill(a_next.begin(), a_next.end(), T(0));            // no step after the last
      for (int64_t t = T_ - 1; t >= 0; --t) {
        const int64_t r = b * T_ + t;
        const T* prev = t ? HS + (r - 1) * H : H0 + b * H;
        T* d = DGX + r * G * H;
        if (M && M[r] == T(0)) {                                  // padding: the state passed through, a = 1
          for (int64_t j = 0; j < H; ++j) { carry[j] = DH[r * H + j] + a_next[j] * carry[j]; a_next[j] = T(1); }
          std::fill(d, d + G * H, T(0));
          continue;
        }
        min_backward_row<KIND, ACT>(GX + r * G * H, DH + r * H, prev, carry.data(), a_next.data(), d, H);
      }
      for (int64_t j = 0; j < H; ++j) DH0[b * H + j] = a_next[j] * carry[j];
    }
  });
}

template <typename F> void with_kind_act(int64_t kind, int64_t act, F&& f) {
  if (kind == 0) {
    if (act == 0) f(std::integral_constant<int, 0>{}, std::integral_constant<int, 0>{});
    else if (act == 1) f(std::integral_constant<int, 0>{}, std::integral_constant<int, 1>{});
    else f(std::integral_constant<int, 0>{}, std::integral_constant<int, 2>{});
  } else {
    if (act == 0) f(std::integral_constant<int, 1>{}, std::integral_constant<int, 0>{});
    else if (act == 1) f(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{});
    else f(std::integral_constant<int, 1>{}, std::integral_constant<int, 2>{});
  }
}

}  // namespace

Tensor min_rnn_forward(Tensor gx, Tensor h0, std::optional<Tensor> mask, int64_t kind, int64_t act) {
  const char* op = "rnnkit::min_rnn_forward";
  for (auto [name, t] : {std::pair{"gx", OptT(gx)}, {"h0", OptT(h0)}, {"mask", mask}}) check_arg(op, name, t, gx);
  TORCH_CHECK((kind == 0 || kind == 1) && act >= 0 && act <= 2, op, ": expected kind 0|1 and act 0..2; received ",
              kind, ", ", act);
  RNNKIT_SHAPE(op, gx, -1, -1, -1);
  const int64_t B = gx.size(0), T_ = gx.size(1), H = h0.size(-1), G = kind == 0 ? 2 : 3;
  RNNKIT_SHAPE(op, gx, B, T_, G * H);
  RNNKIT_SHAPE(op, h0, B, H);
  RNNKIT_SHAPE(op, mask, B, T_);
  Tensor h = at::empty({B, T_, H}, gx.options());
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "rnnkit_min_rnn_forward", [&] {
    with_kind_act(kind, act, [&](auto K, auto A) {
      min_forward<decltype(K)::value, decltype(A)::value, scalar_t>(
          gx.data_ptr<scalar_t>(), h0.data_ptr<scalar_t>(), ptr<scalar_t>(mask), h.data_ptr<scalar_t>(), B, T_, H);
    });
  });
  return h;
}

// d gx and d h0 from d h (B, T, H), walking back: g_t = dh_t + a_{t+1} g_{t+1}; d b_t = g_t, d a_t = g_t h_{t-1}.
std::vector<Tensor> min_rnn_backward(Tensor dh, Tensor gx, Tensor h, Tensor h0, std::optional<Tensor> mask,
                                     int64_t kind, int64_t act) {
  const char* op = "rnnkit::min_rnn_backward";
  for (auto [name, t] : {std::pair{"dh", OptT(dh)}, {"gx", OptT(gx)}, {"h", OptT(h)}, {"h0", OptT(h0)},
                         {"mask", mask}})
    check_arg(op, name, t, gx);
  const int64_t B = gx.size(0), T_ = gx.size(1), H = h0.size(-1);
  RNNKIT_SHAPE(op, dh, B, T_, H);
  RNNKIT_SHAPE(op, h, B, T_, H);
  Tensor dgx = at::empty_like(gx), dh0 = at::empty_like(h0);
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "rnnkit_min_rnn_backward", [&] {
    with_kind_act(kind, act, [&](auto K, auto A) {
      min_backward<decltype(K)::value, decltype(A)::value, scalar_t>(
          dh.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), h0.data_ptr<scalar_t>(),
          ptr<scalar_t>(mask), dgx.data_ptr<scalar_t>(), dh0.data_ptr<scalar_t>(), B, T_, H);
    });
  });
  return {dgx, dh0};
}

}  // namespace rnnkit
