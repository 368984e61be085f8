// Compiled GRU recurrence (rnnkit.GRUCell, Albert's notes' update/reset-gate cell) with layer norm,
// either reset placement, and the carried-state effects of variational Dropout and Zoneout.
// Python sees gru_forward and gru_backward (module.cpp); rnnkit/kernels/ops.py forms the weight
// gradients from what they return, one product over all T*B rows each. As in lstm.cpp, each thread
// walks every step for its own block of batch rows (RowBlocks, common.h).
//
// Per step, gx = LN(x W_ih) + b_ih for all steps already (time first, (T, B, 3H), gates r, z, n):
//   reset_after:  a = LN(h_{t-1} W_hh) g + b_hh      r = s(gx_r + a_r)  z = s(gx_z + a_z)
//                 n = tanh(gx_n + r a_n)
//   reset before: a_rz = h_{t-1} W_rz + b_rz          n = tanh(gx_n + (r h_{t-1}) W_n + b_n)
//   h_t = z h_{t-1} + (1 - z) n
// Backward (the RNN 1 notes' step from E to E-1), with dh the gradient reaching h_t:
//   dn = dh (1 - z), dz = dh (h_{t-1} - n), dh_{t-1} = dh z + (the products' share)
//   d a_n = dn (1 - n^2); dr = d a_n a_n (reset_after) or (d a_n W_n^T) h_{t-1} (before)
#include "common.h"

namespace rnnkit {
namespace {

struct GruOpts {
  bool reset_after;
  double eps;
  Zone zone;
};

template <typename T>
std::vector<Tensor> forward_impl(const Tensor& gx, const Tensor& h0, const OptT& mask, const Tensor& W_hh,
                                 const OptT& b_hh, const OptT& g_hh, const OptT& h_scale, const GruOpts& o) {
  const int64_t T_ = gx.size(0), B = gx.size(1), H = h0.size(1), H3 = 3 * H;
  const bool ln = g_hh.has_value(), zone = o.zone.on, after = o.reset_after;
  Tensor gates = pass_buffer(gx.sizes(), gx.options());                         // r, z, n          (T, B, 3H)
  Tensor h_all = pass_buffer({T_ + 1, B, H}, gx.options());                     // carried h, h_all[0] = h0
  Tensor y = pass_buffer({T_, B, H}, gx.options());
  // reset_after: a_n (T, B, H), the recurrent share the reset gate scales; before: r h_{t-1}
  Tensor side = pass_buffer({T_, B, H}, gx.options());
  OptT z_hat = ln ? OptT(pass_buffer({T_, B, H3}, gx.options())) : OptT();
  OptT z_rstd = ln ? OptT(at::empty({T_, B}, gx.options())) : OptT();
  h_all[0].copy_(h0);
  // reset before: separate products for r, z and for n, so copy the two blocks of W_hh
  const Tensor W_rz = after ? W_hh : W_hh.narrow(1, 0, 2 * H).contiguous();
  const Tensor W_n = after ? W_hh : W_hh.narrow(1, 2 * H, H).contiguous();
  const RowBlocks blocks(B);
  const StepWeight<T> recurrent(W_rz);
  std::optional<StepWeight<T>> recurrent_n;
  if (!after) recurrent_n.emplace(W_n);
  const int64_t NA = after ? H3 : 2 * H;                           // width of the first product
  Tensor a_buf = at::empty({B, NA}, gx.options()), an_buf = at::empty({B, H}, gx.options());

  const T *GX = gx.data_ptr<T>(), *M = ptr<T>(mask), *BH = ptr<T>(b_hh), *GHH = ptr<T>(g_hh), *HS = ptr<T>(h_scale);
  T *G = gates.data_ptr<T>(), *HA = h_all.data_ptr<T>(), *Y = y.data_ptr<T>(), *SIDE = side.data_ptr<T>();
  T *ZHAT = mptr<T>(z_hat), *ZR = mptr<T>(z_rstd), *A = a_buf.data_ptr<T>(), *AN = an_buf.data_ptr<T>();

  blocks.run([&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    std::vector<T> zrow(zone ? H : 0);
    for (int64_t t = 0; t < T_; ++t) {
      const T* h_prev = HA + t * B * H;
      recurrent((ln ? ZHAT + t * B * H3 : A) + b0 * NA, nullptr, h_prev + b0 * H, nb);   // this block's rows
      for (int64_t b = b0; b < b1; ++b) {
        T* a = A + b * NA;
        if (ln) {                                                  // a = LN(h W_hh) g
          T* zh = ZHAT + (t * B + b) * H3;
          T mean, rstd;
          moments(zh, H3, o.eps, mean, rstd);
          ZR[t * B + b] = rstd;
#pragma omp simd
          for (int64_t j = 0; j < H3; ++j) { zh[j] = (zh[j] - mean) * rstd; a[j] = zh[j] * GHH[j]; }
        }
        if (BH) for (int64_t j = 0; j < NA; ++j) a[j] += BH[j];
        const T* x = GX + (t * B + b) * H3;
        const T* hp = h_prev + b * H;
        T* g = G + (t * B + b) * H3;
        T* sd = SIDE + (t * B + b) * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          g[j] = sigm(x[j] + a[j]);
          g[H + j] = sigm(x[H + j] + a[H + j]);
        }
        if (after) {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) { sd[j] = a[2 * H + j]; g[2 * H + j] = std::tanh(x[2 * H + j] + g[j] * sd[j]); }
        } else {
          for (int64_t j = 0; j < H; ++j) sd[j] = g[j] * hp[j];     // r h_{t-1}
        }
      }
      if (!after) {
        (*recurrent_n)(AN + b0 * H, nullptr, SIDE + (t * B + b0) * H, nb);   // (r h_{t-1}) W_n
        for (int64_t b = b0; b < b1; ++b) {
          const T* x = GX + (t * B + b) * H3;
          const T* an = AN + b * H;
          T* g = G + (t * B + b) * H3;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) g[2 * H + j] = std::tanh(x[2 * H + j] + an[j] + (BH ? BH[2 * H + j] : T(0)));
        }
      }
      for (int64_t b = b0; b < b1; ++b) {
        const T* g = G + (t * B + b) * H3;
        const T* hp = h_prev + b * H;
        T* yr = Y + (t * B + b) * H;
        T* hn = HA + ((t + 1) * B + b) * H;
        if (!live(M, t, B, b)) {
          for (int64_t j = 0; j < H; ++j) { hn[j] = hp[j]; yr[j] = T(0); }
          continue;
        }
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) yr[j] = g[H + j] * hp[j] + (T(1) - g[H + j]) * g[2 * H + j];
        const T* d = o.zone.draw(zrow.data(), H, t * B + b, kStreamH);
        carry_h(yr, hn, hp, d, HS ? HS + b * H : nullptr, H);
      }
    }
  });
  return {y, h_all, gates, side, z_hat.value_or(Tensor()), z_rstd.value_or(Tensor())};
}

template <typename T>
std::vector<Tensor> backward_impl(const Tensor& dy, const Tensor& dh_T, const OptT& mask, const OptT& y,
                                  const Tensor& gates, const Tensor& h_all, const Tensor& side, const OptT& z_hat,
                                  const OptT& z_rstd, const Tensor& W_hh, const OptT& g_hh, const OptT& h_scale,
                                  const GruOpts& o) {
  const int64_t T_ = gates.size(0), B = gates.size(1), H3 = gates.size(2), H = H3 / 3;
  const bool ln = g_hh.has_value(), zone = o.zone.on, after = o.reset_after;
  const int64_t NA = after ? H3 : 2 * H;
  Tensor dgx = pass_buffer(gates.sizes(), gates.options());                     // d (gx_r, gx_z, gx_n)
  Tensor da_all = pass_buffer({T_, B, NA}, gates.options());                    // d a (the first product plus b_hh)
  OptT dz_all = ln ? OptT(pass_buffer({T_, B, H3}, gates.options())) : OptT();  // d (h W_hh) before LN
  Tensor dh = dh_T.clone(), dhn = at::empty({B, H}, gates.options()), dd = at::zeros({B, H}, gates.options());
  Tensor dan = at::empty({B, H}, gates.options()), drh = at::empty({B, H}, gates.options());
  OptT d_scale = h_scale.has_value() ? OptT(at::zeros({B, H}, gates.options())) : OptT();
  const Tensor W_rz_t = (after ? W_hh : W_hh.narrow(1, 0, 2 * H)).t().contiguous();   // (NA, H)
  const RowBlocks blocks(B);
  const StepWeight<T> recurrent_t(W_rz_t);
  Tensor W_n_t;
  std::optional<StepWeight<T>> recurrent_n_t;
  if (!after) { W_n_t = W_hh.narrow(1, 2 * H, H).t().contiguous(); recurrent_n_t.emplace(W_n_t); }

  const T *DY = dy.data_ptr<T>(), *M = ptr<T>(mask), *Y_ = ptr<T>(y), *G = gates.data_ptr<T>();
  const T *HA = h_all.data_ptr<T>(), *SIDE = side.data_ptr<T>(), *ZHAT = ptr<T>(z_hat), *ZR = ptr<T>(z_rstd);
  const T *GHH = ptr<T>(g_hh), *HS = ptr<T>(h_scale);
  T *DGX = dgx.data_ptr<T>(), *DA = da_all.data_ptr<T>(), *DZ = mptr<T>(dz_all), *DH = dh.data_ptr<T>();
  T *DHN = dhn.data_ptr<T>(), *DD = dd.data_ptr<T>(), *DAN = dan.data_ptr<T>(), *DRH = drh.data_ptr<T>();
  T *DS = mptr<T>(d_scale);

  blocks.run([&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    std::vector<T> zrow(zone ? H : 0), row(ln ? H3 : 0);
    for (int64_t t = T_ - 1; t >= 0; --t) {
      const T* h_prev = HA + t * B * H;
      // 1. through the carry and h_t = z h_{t-1} + (1 - z) n: d a_z, d a_n (and d a_r after the reset)
      for (int64_t b = b0; b < b1; ++b) {
        T* dn = DHN + b * H;
        T* ddr = DD + b * H;
        T* dx = DGX + (t * B + b) * H3;
        T* da = DA + (t * B + b) * NA;
        if (!live(M, t, B, b)) {
          for (int64_t j = 0; j < H; ++j) { ddr[j] = DH[b * H + j]; DAN[b * H + j] = T(0); }
          for (int64_t j = 0; j < H3; ++j) dx[j] = T(0);
          for (int64_t j = 0; j < NA; ++j) da[j] = T(0);
          if (ln) for (int64_t j = 0; j < H3; ++j) DZ[(t * B + b) * H3 + j] = T(0);
          continue;
        }
        const T* d = o.zone.draw(zrow.data(), H, t * B + b, kStreamH);
        carry_h_back(DH + b * H, DY + (t * B + b) * H, d, HS ? HS + b * H : nullptr,
                     HS ? Y_ + (t * B + b) * H : nullptr, HS ? DS + b * H : nullptr, dn, ddr, H);
        const T* g = G + (t * B + b) * H3;
        const T* hp = h_prev + b * H;
        const T* sd = SIDE + (t * B + b) * H;
        T* an = DAN + b * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const T r = g[j], z = g[H + j], n = g[2 * H + j], v = dn[j];
          ddr[j] += v * z;
          const T d_an = v * (T(1) - z) * (T(1) - n * n);          // d (pre-tanh of n)
          const T d_az = v * (hp[j] - n) * z * (T(1) - z);
          dx[H + j] = d_az;
          da[H + j] = d_az;
          dx[2 * H + j] = d_an;
          an[j] = d_an;
          if (after) {
            const T d_ar = d_an * sd[j] * r * (T(1) - r);
            dx[j] = d_ar;
            da[j] = d_ar;
            da[2 * H + j] = d_an * r;
          }
        }
      }
      if (!after) {
        // reset before: d (r h_{t-1}) = d a_n W_n^T, then d a_r and h_{t-1}'s share through r h_{t-1}
        (*recurrent_n_t)(DRH + b0 * H, nullptr, DAN + b0 * H, nb);
        for (int64_t b = b0; b < b1; ++b) {
          if (!live(M, t, B, b)) continue;
          const T* g = G + (t * B + b) * H3;
          const T* hp = h_prev + b * H;
          const T* drow = DRH + b * H;
          T* dx = DGX + (t * B + b) * H3;
          T* da = DA + (t * B + b) * NA;
          T* ddr = DD + b * H;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) {
            const T r = g[j];
            const T d_ar = drow[j] * hp[j] * r * (T(1) - r);
            dx[j] = d_ar;
            da[j] = d_ar;
            ddr[j] += drow[j] * r;
          }
        }
      }
      if (ln) {
        for (int64_t b = b0; b < b1; ++b) {
          if (!live(M, t, B, b)) continue;
          const T* da = DA + (t * B + b) * H3;
#pragma omp simd
          for (int64_t j = 0; j < H3; ++j) row[j] = da[j] * GHH[j];
          layer_norm_back(row.data(), ZHAT + (t * B + b) * H3, ZR[t * B + b], H3, DZ + (t * B + b) * H3);
        }
      }
      // 2. dh_{t-1} = d (h W_hh) W_hh^T + the direct shares, for this block's rows
      recurrent_t(DH + b0 * H, DD + b0 * H, (ln ? DZ + (t * B + b0) * H3 : DA + (t * B + b0) * NA), nb);
    }
  });
  return {dgx, da_all, dz_all.value_or(Tensor()), dh, d_scale.value_or(Tensor())};
}

}  // namespace

std::vector<Tensor> gru_forward(Tensor gx, Tensor h0, OptT mask, Tensor W_hh, OptT b_hh, OptT g_hh, OptT h_scale,
                                bool reset_after, double eps, bool zone, bool zone_train, double zone_p,
                                double zone_pc, int64_t zone_seed) {
  const GruOpts o{reset_after, eps, Zone{zone, zone_train, zone_p, zone_pc, zone_seed}};
  const char* op = "rnnkit::gru_forward";
  for (auto [name, t] : {std::pair{"gx", OptT(gx)}, {"h0", OptT(h0)}, {"mask", mask}, {"W_hh", OptT(W_hh)},
                         {"b_hh", b_hh}, {"g_hh", g_hh}, {"h_scale", h_scale}})
    check_arg(op, name, t, gx);
  RNNKIT_SHAPE(op, gx, -1, -1, -1);
  const int64_t T_ = gx.size(0), B = gx.size(1), H = h0.size(-1);
  RNNKIT_SHAPE(op, h0, B, H);
  RNNKIT_SHAPE(op, gx, T_, B, 3 * H);
  RNNKIT_SHAPE(op, mask, T_, B);
  RNNKIT_SHAPE(op, W_hh, H, 3 * H);
  RNNKIT_SHAPE(op, b_hh, 3 * H);
  RNNKIT_SHAPE(op, g_hh, 3 * H);
  RNNKIT_SHAPE(op, h_scale, B, H);
  return AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "rnnkit_gru_forward", [&] {
    return forward_impl<scalar_t>(gx, h0, mask, W_hh, b_hh, g_hh, h_scale, o);
  });
}

std::vector<Tensor> gru_backward(Tensor dy, Tensor dh_T, OptT mask, OptT y, Tensor gates, Tensor h_all, Tensor side,
                                 OptT z_hat, OptT z_rstd, Tensor W_hh, OptT g_hh, OptT h_scale, bool reset_after,
                                 double eps, bool zone, bool zone_train, double zone_p, double zone_pc,
                                 int64_t zone_seed) {
  const GruOpts o{reset_after, eps, Zone{zone, zone_train, zone_p, zone_pc, zone_seed}};
  const char* op = "rnnkit::gru_backward";
  for (auto [name, t] : {std::pair{"dy", OptT(dy)}, {"dh_T", OptT(dh_T)}, {"mask", mask}, {"y", y},
                         {"h_all", OptT(h_all)}, {"side", OptT(side)}, {"z_hat", z_hat}, {"z_rstd", z_rstd},
                         {"W_hh", OptT(W_hh)}, {"g_hh", g_hh}, {"h_scale", h_scale}})
    check_arg(op, name, t, gates);
  RNNKIT_SHAPE(op, gates, -1, -1, -1);
  const int64_t T_ = gates.size(0), B = gates.size(1), H = h_all.size(-1);
  RNNKIT_SHAPE(op, gates, T_, B, 3 * H);
  RNNKIT_SHAPE(op, h_all, T_ + 1, B, H);
  RNNKIT_SHAPE(op, dy, T_, B, H);
  RNNKIT_SHAPE(op, dh_T, B, H);
  RNNKIT_SHAPE(op, W_hh, H, 3 * H);
  return AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "rnnkit_gru_backward", [&] {
    return backward_impl<scalar_t>(dy, dh_T, mask, y, gates, h_all, side, z_hat, z_rstd, W_hh, g_hh, h_scale, o);
  });
}

}  // namespace rnnkit
