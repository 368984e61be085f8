// Compiled Elman recurrence (rnnkit.ElmanCell with tanh or relu, the Simple RNNs post and the Theano notebook), and the carried-
// state effects of variational Dropout and Zoneout. Python sees elman_forward and elman_backward
// (module.cpp); rnnkit/kernels/ops.py forms W_hh's gradient in one product over all T*B rows. As in
// lstm.cpp, each thread walks every step for its own block of batch rows (RowBlocks, common.h).
//
// Per step, gx = x W_ih + b for all steps already (time first, (T, B, H)):
//   h_t = act(gx_t + h_{t-1} W_hh)
// Backward (the Simple RNNs post's BPTT), with dh the gradient reaching h_t:
//   da = dh act'(.)  (1 - h_t^2 for tanh, [h_t > 0] for relu);  dh_{t-1} = da W_hh^T
#include "common.h"

namespace rnnkit {
namespace {

struct ElmanOpts {
  bool relu;
  Zone zone;
};

template <typename T>
std::vector<Tensor> forward_impl(const Tensor& gx, const Tensor& h0, const OptT& mask, const Tensor& W_hh,
                                 const OptT& h_scale, const ElmanOpts& o) {
  const int64_t T_ = gx.size(0), B = gx.size(1), H = h0.size(1);
  Tensor h_all = pass_buffer({T_ + 1, B, H}, gx.options());                     // carried h, h_all[0] = h0
  Tensor h_new = pass_buffer({T_, B, H}, gx.options());                         // the cell's own h_t (before the carry)
  Tensor y = pass_buffer({T_, B, H}, gx.options());
  h_all[0].copy_(h0);
  const RowBlocks blocks(B);
  const StepWeight<T> recurrent(W_hh);
  const T *GX = gx.data_ptr<T>(), *M = ptr<T>(mask), *HS = ptr<T>(h_scale);
  T *HA = h_all.data_ptr<T>(), *HN = h_new.data_ptr<T>(), *Y = y.data_ptr<T>();
  blocks.run([&](int64_t b0, int64_t b1) {
    std::vector<T> zrow(o.zone.on ? H : 0);
    for (int64_t t = 0; t < T_; ++t) {
      const T* h_prev = HA + t * B * H;
      T* hn_all = HN + t * B * H;
      const int64_t r0 = b0 * H;                                // this block's first element in a step
      recurrent(hn_all + r0, GX + t * B * H + r0, h_prev + r0, b1 - b0);   // gx_t + h_{t-1} W_hh
      for (int64_t b = b0; b < b1; ++b) {
        T* hn = hn_all + b * H;
        const T* hp = h_prev + b * H;
        T* yr = Y + (t * B + b) * H;
        T* carried = HA + ((t + 1) * B + b) * H;
        if (o.relu) {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) hn[j] = hn[j] > T(0) ? hn[j] : T(0);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) hn[j] = std::tanh(hn[j]);
        }
        if (!live(M, t, B, b)) {
          for (int64_t j = 0; j < H; ++j) { carried[j] = hp[j]; yr[j] = T(0); }
          continue;
        }
        for (int64_t j = 0; j < H; ++j) yr[j] = hn[j];
        const T* d = o.zone.draw(zrow.data(), H, t * B + b, kStreamH);
        carry_h(yr, carried, hp, d, HS ? HS + b * H : nullptr, H);
      }
    }
  });
  return {y, h_all, h_new};
}

template <typename T>
std::vector<Tensor> backward_impl(const Tensor& dy, const Tensor& dh_T, const OptT& mask, const Tensor& h_new,
                                  const Tensor& W_hh, const OptT& h_scale, const ElmanOpts& o) {
  const int64_t T_ = h_new.size(0), B = h_new.size(1), H = h_new.size(2);
  Tensor da_all = pass_buffer(h_new.sizes(), h_new.options());                  // d (gx_t + h_{t-1} W_hh)
  Tensor dh = dh_T.clone(), dd = at::zeros({B, H}, h_new.options()), dn = at::empty({B, H}, h_new.options());
  OptT d_scale = h_scale.has_value() ? OptT(at::zeros({B, H}, h_new.options())) : OptT();
  const Tensor W_hh_t = W_hh.t().contiguous();
  const RowBlocks blocks(B);
  const StepWeight<T> recurrent_t(W_hh_t);
  const T *DY = dy.data_ptr<T>(), *M = ptr<T>(mask), *HN = h_new.data_ptr<T>(), *HS = ptr<T>(h_scale);
  T *DA = da_all.data_ptr<T>(), *DH = dh.data_ptr<T>(), *DD = dd.data_ptr<T>(), *DN = dn.data_ptr<T>();
  T* DS = mptr<T>(d_scale);
  blocks.run([&](int64_t b0, int64_t b1) {
    std::vector<T> zrow(o.zone.on ? H : 0);
    for (int64_t t = T_ - 1; t >= 0; --t) {
      for (int64_t b = b0; b < b1; ++b) {
        T* da = DA + (t * B + b) * H;
        T* ddr = DD + b * H;
        if (!live(M, t, B, b)) {
          for (int64_t j = 0; j < H; ++j) { ddr[j] = DH[b * H + j]; da[j] = T(0); }
          continue;
        }
        const T* d = o.zone.draw(zrow.data(), H, t * B + b, kStreamH);
        const T* hn = HN + (t * B + b) * H;
        // y_t is h_t itself but under zoneout; carry_h_back reads h_t for the dropout mask's gradient
        carry_h_back(DH + b * H, DY + (t * B + b) * H, d, HS ? HS + b * H : nullptr, hn,
                     HS ? DS + b * H : nullptr, DN + b * H, ddr, H);
        const T* g = DN + b * H;
        if (o.relu) {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) da[j] = hn[j] > T(0) ? g[j] : T(0);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) da[j] = g[j] * (T(1) - hn[j] * hn[j]);
        }
      }
      recurrent_t(DH + b0 * H, DD + b0 * H, DA + (t * B + b0) * H, b1 - b0);   // dh_{t-1} = da W_hh^T + direct
    }
  });
  return {da_all, dh, d_scale.value_or(Tensor())};
}

}  // namespace

std::vector<Tensor> elman_forward(Tensor gx, Tensor h0, OptT mask, Tensor W_hh, OptT h_scale, bool relu, bool zone,
                                  bool zone_train, double zone_p, double zone_pc, int64_t zone_seed) {
  const ElmanOpts o{relu, Zone{zone, zone_train, zone_p, zone_pc, zone_seed}};
  const char* op = "rnnkit::elman_forward";
  for (auto [name, t] : {std::pair{"gx", OptT(gx)}, {"h0", OptT(h0)}, {"mask", mask}, {"W_hh", OptT(W_hh)},
                         {"h_scale", h_scale}})
    check_arg(op, name, t, gx);
  RNNKIT_SHAPE(op, gx, -1, -1, -1);
  const int64_t T_ = gx.size(0), B = gx.size(1), H = gx.size(2);
  RNNKIT_SHAPE(op, h0, B, H);
  RNNKIT_SHAPE(op, mask, T_, B);
  RNNKIT_SHAPE(op, W_hh, H, H);
  RNNKIT_SHAPE(op, h_scale, B, H);
  return AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "rnnkit_elman_forward", [&] {
    return forward_impl<scalar_t>(gx, h0, mask, W_hh, h_scale, o);
  });
}

std::vector<Tensor> elman_backward(Tensor dy, Tensor dh_T, OptT mask, Tensor h_new, Tensor W_hh, OptT h_scale,
                                   bool relu, bool zone, bool zone_train, double zone_p, double zone_pc,
                                   int64_t zone_seed) {
  const ElmanOpts o{relu, Zone{zone, zone_train, zone_p, zone_pc, zone_seed}};
  const char* op = "rnnkit::elman_backward";
  for (auto [name, t] : {std::pair{"dy", OptT(dy)}, {"dh_T", OptT(dh_T)}, {"mask", mask}, {"W_hh", OptT(W_hh)},
                         {"h_scale", h_scale}})
    check_arg(op, name, t, h_new);
  RNNKIT_SHAPE(op, h_new, -1, -1, -1);
  const int64_t T_ = h_new.size(0), B = h_new.size(1), H = h_new.size(2);
  RNNKIT_SHAPE(op, dy, T_, B, H);
  RNNKIT_SHAPE(op, dh_T, B, H);
  RNNKIT_SHAPE(op, W_hh, H, H);
  return AT_DISPATCH_FLOATING_TYPES(h_new.scalar_type(), "rnnkit_elman_backward", [&] {
    return backward_impl<scalar_t>(dy, dh_T, mask, h_new, W_hh, h_scale, o);
  });
}

}  // namespace rnnkit
