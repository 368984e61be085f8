// EUNN (Jing et al. 2017): h_t = modReLU(D F_L ... F_1 h_{t-1} + U x_t), complex, in one compiled time loop,
// with the backward pass through time written out (Albert's notes' backpropagation through time).
//
// Complex vectors are stored as [re (N) | im (N)]. Layer l of rotations is h'_k = v_lk h_k + w_lk h_{p_lk}
// (p_l the partner of each unit, an involution); D the diagonal of phases. The backward pass recomputes each
// step's rotated vectors from the stored h_{t-1} (L+1 vectors of N, cheap) instead of storing them.
// Gradients of a real loss with respect to complex a in y = a x are conj(x) dL/dy, and to x: conj(a) dL/dy.
#include "common.h"

namespace rnnkit {

namespace {

// u <- layer l of rotations applied to u (re, im of N each), through the scratch (nr, ni).
template <typename T>
inline void rotate_layer(const T* v, const T* w, const int64_t* p, const T* ur, const T* ui, T* nr, T* ni, int64_t N) {
  for (int64_t k = 0; k < N; ++k) {
    const int64_t q = p[k];
    const T vr = v[k], vi = v[N + k], wr = w[k], wi = w[N + k];
    nr[k] = vr * ur[k] - vi * ui[k] + wr * ur[q] - wi * ui[q];
    ni[k] = vr * ui[k] + vi * ur[k] + wr * ui[q] + wi * ur[q];
  }
}

// U[0] = h (as [re | im]); U[l + 1] = layer l of U[l]; returns U[L].
template <typename T>
inline T* rotations(const T* h, const T* v, const T* w, const int64_t* P, T* U, int64_t N, int64_t L) {
  std::copy(h, h + 2 * N, U);
  for (int64_t l = 0; l < L; ++l) {
    T* u = U + l * 2 * N;
    rotate_layer(v + l * 2 * N, w + l * 2 * N, P + l * N, u, u + N, u + 2 * N, u + 3 * N, N);
  }
  return U + L * 2 * N;
}

// The pre-activation of unit k, z = d u + g (complex), and its guarded modulus m = sqrt(|z|^2 + eps^2).
template <typename T>
struct Pre {
  T zr, zi, m;
  Pre(const T* d, const T* u, const T* g, int64_t k, int64_t N, T eps)
      : zr(d[k] * u[k] - d[N + k] * u[N + k] + g[k]), zi(d[k] * u[N + k] + d[N + k] * u[k] + g[N + k]),
        m(std::sqrt(zr * zr + zi * zi + eps * eps)) {}
};

template <typename T>
void eunn_fwd(const T* gx, const T* h0, const T* mask, const T* v, const T* w, const T* d, const T* bias,
              const int64_t* P, T* H, int64_t B, int64_t T_, int64_t N, int64_t L, T eps) {
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> U((L + 1) * 2 * N);
    for (int64_t b = b0; b < b1; ++b) {
      const T* hp = h0 + b * 2 * N;
      for (int64_t t = 0; t < T_; ++t) {
        T* ht = H + (b * T_ + t) * 2 * N;
        if (mask && mask[b * T_ + t] == T(0)) {               // padding: the state passes through
          std::copy(hp, hp + 2 * N, ht);
          hp = ht;
          continue;
        }
        const T* u = rotations(hp, v, w, P, U.data(), N, L);
        const T* g = gx + (b * T_ + t) * 2 * N;
        for (int64_t k = 0; k < N; ++k) {
          const Pre<T> z(d, u, g, k, N, eps);
          const T s = std::max(z.m + bias[k], T(0)) / z.m;
          ht[k] = z.zr * s;
          ht[N + k] = z.zi * s;
        }
        hp = ht;
      }
    }
  });
}

template <typename T>
void eunn_bwd(const T* dH, const T* gx, const T* H, const T* h0, const T* mask, const T* v, const T* w, const T* d,
              const T* bias, const int64_t* P, T* dgx, T* dh0, T* dv, T* dw, T* dd, T* db, int64_t B, int64_t T_,
              int64_t N, int64_t L, T eps) {
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> U((L + 1) * 2 * N), G(2 * N), Gn(2 * N);
    for (int64_t b = b0; b < b1; ++b) {
      T *dv_b = dv + b * L * 2 * N, *dw_b = dw + b * L * 2 * N, *dd_b = dd + b * 2 * N, *db_b = db + b * N;
      std::fill(G.begin(), G.end(), T(0));                     // dL/dh_t, carried back through time
      for (int64_t t = T_ - 1; t >= 0; --t) {
        const T* dh = dH + (b * T_ + t) * 2 * N;
        for (int64_t k = 0; k < 2 * N; ++k) G[k] += dh[k];
        T* dg = dgx + (b * T_ + t) * 2 * N;
        if (mask && mask[b * T_ + t] == T(0)) {
          std::fill(dg, dg + 2 * N, T(0));
          continue;
        }
        const T* hp = t ? H + (b * T_ + t - 1) * 2 * N : h0 + b * 2 * N;
        const T* u = rotations(hp, v, w, P, U.data(), N, L);
        const T* g = gx + (b * T_ + t) * 2 * N;
        for (int64_t k = 0; k < N; ++k) {
          const Pre<T> z(d, u, g, k, N, eps);
          const T zr = z.zr, zi = z.zi, m = z.m;
          T gzr = 0, gzi = 0;
          if (m + bias[k] > T(0)) {                              // h = z s(m), s = (m + b) / m
            const T s = (m + bias[k]) / m, dot = G[k] * zr + G[N + k] * zi;
            const T dsdm_over_m = -bias[k] / (m * m * m);
            gzr = G[k] * s + dot * dsdm_over_m * zr;
            gzi = G[N + k] * s + dot * dsdm_over_m * zi;
            db_b[k] += dot / m;
          }
          dg[k] = gzr;
          dg[N + k] = gzi;
          // z = d u + g: dd += conj(u) gz, dL/du = conj(d) gz
          dd_b[k] += u[k] * gzr + u[N + k] * gzi;
          dd_b[N + k] += u[k] * gzi - u[N + k] * gzr;
          G[k] = d[k] * gzr + d[N + k] * gzi;
          G[N + k] = d[k] * gzi - d[N + k] * gzr;
        }
        for (int64_t l = L - 1; l >= 0; --l) {                    // u' = v u + w u[p]
          const T *ul = U.data() + l * 2 * N, *vl = v + l * 2 * N, *wl = w + l * 2 * N;
          const int64_t* p = P + l * N;
          T *dvl = dv_b + l * 2 * N, *dwl = dw_b + l * 2 * N;
          for (int64_t k = 0; k < N; ++k) {
            const int64_t q = p[k];
            const T gr = G[k], gi = G[N + k];
            dvl[k] += ul[k] * gr + ul[N + k] * gi;
            dvl[N + k] += ul[k] * gi - ul[N + k] * gr;
            dwl[k] += ul[q] * gr + ul[N + q] * gi;
            dwl[N + k] += ul[q] * gi - ul[N + q] * gr;
            // dL/du_k = conj(v_k) G_k + conj(w_q) G_q, q the partner (u_k feeds unit q through w_q)
            const T qr = G[q], qi = G[N + q];
            Gn[k] = vl[k] * gr + vl[N + k] * gi + wl[q] * qr + wl[N + q] * qi;
            Gn[N + k] = vl[k] * gi - vl[N + k] * gr + wl[q] * qi - wl[N + q] * qr;
          }
          std::swap(G, Gn);
        }
      }
      std::copy(G.begin(), G.end(), dh0 + b * 2 * N);
    }
  });
}

void check_eunn(const char* op, const Tensor& gx, const Tensor& h0, const OptT& mask, const Tensor& v,
                const Tensor& w, const Tensor& d, const Tensor& bias, const Tensor& partner) {
  for (auto [name, t] : {std::pair{"gx", OptT(gx)}, {"h0", OptT(h0)}, {"mask", mask}, {"v", OptT(v)},
                         {"w", OptT(w)}, {"d", OptT(d)}, {"bias", OptT(bias)}})
    check_arg(op, name, t, gx);
  TORCH_CHECK(partner.device().is_cpu() && partner.scalar_type() == at::kLong && partner.is_contiguous(), op,
              ": expected partner a contiguous int64 CPU tensor; received ", partner.scalar_type(), " on ",
              partner.device());
  RNNKIT_SHAPE(op, gx, -1, -1, -1);
  const int64_t B = gx.size(0), T_ = gx.size(1), N = bias.size(0), L = partner.size(0);
  RNNKIT_SHAPE(op, gx, B, T_, 2 * N);
  RNNKIT_SHAPE(op, h0, B, 2 * N);
  RNNKIT_SHAPE(op, mask, B, T_);
  RNNKIT_SHAPE(op, v, L, 2 * N);
  RNNKIT_SHAPE(op, w, L, 2 * N);
  RNNKIT_SHAPE(op, d, 2 * N);
  RNNKIT_SHAPE(op, partner, L, N);
  if (partner.numel()) {
    TORCH_CHECK(partner.min().item<int64_t>() >= 0 && partner.max().item<int64_t>() < N, op,
                ": expected partner indices in [0, ", N, "); received values outside");
  }
}

}  // namespace

Tensor eunn_forward(Tensor gx, Tensor h0, OptT mask, Tensor v, Tensor w, Tensor d, Tensor bias, Tensor partner,
                    double eps) {
  const char* op = "rnnkit::eunn_forward";
  check_eunn(op, gx, h0, mask, v, w, d, bias, partner);
  const int64_t B = gx.size(0), T_ = gx.size(1), N = bias.size(0), L = partner.size(0);
  Tensor H = at::empty({B, T_, 2 * N}, gx.options());
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "rnnkit_eunn_forward", [&] {
    eunn_fwd<scalar_t>(gx.data_ptr<scalar_t>(), h0.data_ptr<scalar_t>(), ptr<scalar_t>(mask), v.data_ptr<scalar_t>(),
                       w.data_ptr<scalar_t>(), d.data_ptr<scalar_t>(), bias.data_ptr<scalar_t>(),
                       partner.data_ptr<int64_t>(), H.data_ptr<scalar_t>(), B, T_, N, L, static_cast<scalar_t>(eps));
  });
  return H;
}

// d gx, d h0, d v, d w, d d, d bias from d H (B, T, 2N); the per-row sums of the shared weights' gradients
// are kept apart (one row per batch element, so threads never write the same memory) and summed at the end.
std::vector<Tensor> eunn_backward(Tensor dH, Tensor gx, Tensor H, Tensor h0, OptT mask, Tensor v, Tensor w, Tensor d,
                                  Tensor bias, Tensor partner, double eps) {
  const char* op = "rnnkit::eunn_backward";
  check_eunn(op, gx, h0, mask, v, w, d, bias, partner);
  for (auto [name, t] : {std::pair{"dH", OptT(dH)}, {"H", OptT(H)}}) check_arg(op, name, t, gx);
  const int64_t B = gx.size(0), T_ = gx.size(1), N = bias.size(0), L = partner.size(0);
  RNNKIT_SHAPE(op, dH, B, T_, 2 * N);
  RNNKIT_SHAPE(op, H, B, T_, 2 * N);
  Tensor dgx = at::empty_like(gx), dh0 = at::empty_like(h0);
  Tensor dv = at::zeros({B, L, 2 * N}, gx.options()), dw = at::zeros({B, L, 2 * N}, gx.options());
  Tensor dd = at::zeros({B, 2 * N}, gx.options()), db = at::zeros({B, N}, gx.options());
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "rnnkit_eunn_backward", [&] {
    eunn_bwd<scalar_t>(dH.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(), H.data_ptr<scalar_t>(),
                       h0.data_ptr<scalar_t>(), ptr<scalar_t>(mask), v.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                       d.data_ptr<scalar_t>(), bias.data_ptr<scalar_t>(), partner.data_ptr<int64_t>(),
                       dgx.data_ptr<scalar_t>(), dh0.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>(),
                       dw.data_ptr<scalar_t>(), dd.data_ptr<scalar_t>(), db.data_ptr<scalar_t>(), B, T_, N, L,
                       static_cast<scalar_t>(eps));
  });
  return {dgx, dh0, dv.sum(0), dw.sum(0), dd.sum(0), db.sum(0)};
}

}  // namespace rnnkit
