// Compiled LSTM recurrence: the time loop of rnnkit.kernels.lstm in C++ (the Simple RNNs post and the RNN 1 notes).
// Python sees lstm_forward, lstm_backward and zoneout_masks (module.cpp); rnnkit/kernels/ops.py
// declares them as the custom operators torch.ops.rnnkit.lstm_forward / lstm_backward.
//
// Forward walks t = 0..T-1; backward walks t = T-1..0 carrying dh and dc, as the RNN 1 notes'
// backpropagation "from time step E to E-1". Per step there is one matrix product for the
// recurrence (two with a projection) and one pass over each batch row for the gate maths, so
// nothing per step goes through Python or autograd. The batch is split among the threads once per
// pass (RowBlocks, common.h): each thread walks every step for its own rows, products included, with
// no synchronisation between steps. The weight matrices' gradients are NOT formed
// here: the caller makes each one with a single product over all T*B rows of what this file returns;
// the small parameters' (peepholes, layer norm gains) are summed per row inside the backward loop.
//
// Layout: time first, (T, B, G*H), every per-step slice contiguous. Gate order i, f, u, o
// (i, u, o without a forget gate). Options are all of rnnkit.LSTMCell's with tanh activations,
// plus two wrappers' effects on the carried state:
//   h_scale  (B, P): variational state dropout, carried h = h_t * h_scale  (rnnkit.Dropout)
//   zone = (training, p, cell_p, seed): zoneout, carried s = d s_{t-1} + (1 - d) s_t (rnnkit.Zoneout),
//          d drawn by Zone::draw (common.h) from the seed, again in the backward pass
// Lengths arrive as a (T, B) 0/1 mask: past a sequence's end its state passes through and y is 0.
#include "common.h"

namespace rnnkit {
namespace {

// One batch row of the forward gate maths, in place: the recurrent shares a_i, a_f, a_u, a_o (plus the
// input's share gx, laid out i, f, u, o as well) become the gates i, f, u, o; cn = c_t (clipped), cr = c_t
// before the clip.
template <typename T, bool PEEP, bool FG, bool CLIP>
void gates_forward(const T* __restrict xi, const T* __restrict xf, const T* __restrict xu, const T* __restrict xo,
                   T* __restrict ai, T* __restrict af, T* __restrict au, T* __restrict ao, const T* __restrict cp,
                   T* __restrict cn, T* __restrict cr, const T* __restrict wci, const T* __restrict wcf,
                   const T* __restrict wco, const T fb, const T cc, const int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    T pre_i = ai[j] + xi[j], pre_o = ao[j] + xo[j];
    if constexpr (PEEP) pre_i += wci[j] * cp[j];
    const T i = sigm(pre_i), u = std::tanh(au[j] + xu[j]);
    T c;
    if constexpr (FG) {
      T pre_f = af[j] + xf[j] + fb;
      if constexpr (PEEP) pre_f += wcf[j] * cp[j];
      const T f = sigm(pre_f);
      af[j] = f;
      c = f * cp[j] + i * u;
    } else {
      c = cp[j] + i * u;
    }
    if constexpr (CLIP) { cr[j] = c; c = std::min(std::max(c, -cc), cc); }
    if constexpr (PEEP) pre_o += wco[j] * c;
    ai[j] = i;
    au[j] = u;
    ao[j] = sigm(pre_o);
    cn[j] = c;
  }
}

// One batch row of the backward gate maths. In: dm = d m_t, k = tanh(LN(c_t)), gates; out: d a_o and
// dk = d c_t through k (before layer norm's backward, which the caller applies).
template <typename T>
void output_backward(const T* __restrict dm, const T* __restrict k, const T* __restrict go, T* __restrict dao,
                     T* __restrict dk, const int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T o = go[j];
    dao[j] = dm[j] * k[j] * o * (T(1) - o);
    dk[j] = dm[j] * o * (T(1) - k[j] * k[j]);
  }
}

// The rest: dc_t from the carried dc (zoneout keeps a share zc for dc_{t-1}), dk and the o peephole;
// then d a_i, d a_f, d a_u and dc_{t-1}, written over dc; with peepholes, this row's shares of their
// gradients (d a_i c_{t-1}, d a_f c_{t-1}, d a_o c_t) are added to acc_ci, acc_cf, acc_co.
template <typename T, bool PEEP, bool FG, bool CLIP, bool ZONE>
void cell_backward(const T* __restrict gi, const T* __restrict gf, const T* __restrict gu, const T* __restrict dao,
                   const T* __restrict dk, const T* __restrict cp, const T* __restrict cr, const T* __restrict zc,
                   const T* __restrict wci, const T* __restrict wcf, const T* __restrict wco, T* __restrict dai,
                   T* __restrict daf, T* __restrict dau, T* __restrict dc, const T cc, const int64_t H,
                   const T* __restrict cn, T* __restrict acc_ci, T* __restrict acc_cf, T* __restrict acc_co) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T carried = dc[j];
    T dct = (ZONE ? (T(1) - zc[j]) * carried : carried) + dk[j];
    if constexpr (PEEP) { dct += dao[j] * wco[j]; acc_co[j] += dao[j] * cn[j]; }
    if constexpr (CLIP) dct = std::abs(cr[j]) > cc ? T(0) : dct;
    const T i = gi[j], u = gu[j];
    const T d_i = dct * u * i * (T(1) - i);
    dai[j] = d_i;
    dau[j] = dct * i * (T(1) - u * u);
    T dcp = dct;
    if constexpr (FG) {
      const T f = gf[j];
      const T d_f = dct * cp[j] * f * (T(1) - f);
      daf[j] = d_f;
      dcp = dct * f;
      if constexpr (PEEP) { dcp += d_f * wcf[j]; acc_cf[j] += d_f * cp[j]; }
    }
    if constexpr (PEEP) { dcp += d_i * wci[j]; acc_ci[j] += d_i * cp[j]; }
    if constexpr (ZONE) dcp += zc[j] * carried;
    dc[j] = dcp;
  }
}

struct Opts {
  bool forget_gate;
  double forget_bias, cell_clip, proj_clip, eps;  // a clip <= 0 means none
  Zone zone;
};

template <typename T>
std::vector<Tensor> forward_impl(const Tensor& gx, const Tensor& h0, const Tensor& c0, const OptT& mask,
                                 const Tensor& W_hh, const OptT& w_ci, const OptT& w_cf, const OptT& w_co,
                                 const OptT& g_hh, const OptT& g_c, const OptT& b_c, const OptT& W_proj,
                                 const OptT& h_scale, const Opts& o) {
  const int64_t T_ = gx.size(0), B = gx.size(1), GH = gx.size(2), H = c0.size(1), P = h0.size(1);
  const bool ln = g_hh.has_value(), proj = W_proj.has_value(), peep = w_ci.has_value();
  const bool zone = o.zone.on, cclip = o.cell_clip > 0, pclip = proj && o.proj_clip > 0;
  const int64_t fo = o.forget_gate ? H : -1, uo = o.forget_gate ? 2 * H : H, oo = o.forget_gate ? 3 * H : 2 * H;
  Tensor gates = pass_buffer(gx.sizes(), gx.options());                         // post-activation gates  (T, B, GH)
  Tensor h_all = pass_buffer({T_ + 1, B, P}, gx.options());                     // carried h, h_all[0] = h0
  Tensor c_all = pass_buffer({T_ + 1, B, H}, gx.options());                     // carried c, c_all[0] = c0
  Tensor y = pass_buffer({T_, B, P}, gx.options());
  Tensor k_all = pass_buffer({T_, B, H}, gx.options());                         // tanh(LN(c_t))
  OptT c_new = zone ? OptT(pass_buffer({T_, B, H}, gx.options())) : OptT();     // the cell's own c_t
  OptT c_raw = cclip ? OptT(pass_buffer({T_, B, H}, gx.options())) : OptT();
  OptT m_all = proj ? OptT(pass_buffer({T_, B, H}, gx.options())) : OptT();
  OptT hp_raw = pclip ? OptT(pass_buffer({T_, B, P}, gx.options())) : OptT();
  OptT hp = proj ? OptT(at::empty({B, P}, gx.options())) : OptT();
  OptT z_hat = ln ? OptT(pass_buffer({T_, B, GH}, gx.options())) : OptT();
  OptT z_rstd = ln ? OptT(at::empty({T_, B}, gx.options())) : OptT();
  OptT n_hat = ln ? OptT(pass_buffer({T_, B, H}, gx.options())) : OptT();
  OptT n_rstd = ln ? OptT(at::empty({T_, B}, gx.options())) : OptT();
  h_all[0].copy_(h0);
  c_all[0].copy_(c0);

  const T *GX = gx.data_ptr<T>(), *M = ptr<T>(mask), *W = W_hh.data_ptr<T>(), *WP = ptr<T>(W_proj);
  const T *WCI = ptr<T>(w_ci), *WCF = ptr<T>(w_cf), *WCO = ptr<T>(w_co);
  const T *GHH = ptr<T>(g_hh), *GC = ptr<T>(g_c), *BC = ptr<T>(b_c);
  const T* HS = ptr<T>(h_scale);
  T *G = gates.data_ptr<T>(), *HA = h_all.data_ptr<T>(), *CA = c_all.data_ptr<T>(), *Y = y.data_ptr<T>();
  T *K = k_all.data_ptr<T>(), *CN = mptr<T>(c_new), *CR = mptr<T>(c_raw), *MA = mptr<T>(m_all);
  T *HR = mptr<T>(hp_raw), *HP = mptr<T>(hp), *ZHAT = mptr<T>(z_hat), *ZR = mptr<T>(z_rstd);
  T *NHAT = mptr<T>(n_hat), *NR = mptr<T>(n_rstd);
  const T fb = T(o.forget_bias), cc = T(o.cell_clip), pc = T(o.proj_clip);
  const RowBlocks blocks(B);
  const StepWeight<T> recurrent(W_hh);
  std::optional<StepWeight<T>> projection;
  if (proj) projection.emplace(*W_proj);

  blocks.run([&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    std::vector<T> zrow(zone ? P + H : 0);                     // a row's zoneout masks for h, c
    for (int64_t t = 0; t < T_; ++t) {
      const T* h_prev = HA + t * B * P;
      const T* c_prev_all = CA + t * B * H;
      T* a_all = G + t * B * GH;                               // pre-activations, then gates in place
      // h_{t-1} W_hh for this block's rows; gx is added in the gate loop
      recurrent((ln ? ZHAT + t * B * GH : a_all) + b0 * GH, nullptr, h_prev + b0 * P, nb);
      T* cn_all = CN ? CN + t * B * H : CA + (t + 1) * B * H; // the cell's c_t (carried c unless zoneout)
      for (int64_t b = b0; b < b1; ++b) {
        T* a = a_all + b * GH;
        const T* cp = c_prev_all + b * H;
        if (ln) {
          T* zh = ZHAT + (t * B + b) * GH;
          T mean, rstd;
          moments(zh, GH, o.eps, mean, rstd);
          ZR[t * B + b] = rstd;
#pragma omp simd
          for (int64_t j = 0; j < GH; ++j) { zh[j] = (zh[j] - mean) * rstd; a[j] = zh[j] * GHH[j]; }
        }
        T* cn = cn_all + b * H;
        T* cr = CR ? CR + (t * B + b) * H : nullptr;
        with_flags([&](auto PEEP, auto FG, auto CLIP) {
          const T* x = GX + (t * B + b) * GH;
          gates_forward<T, decltype(PEEP)::value, decltype(FG)::value, decltype(CLIP)::value>(
              x, x + (fo >= 0 ? fo : 0), x + uo, x + oo, a, a + (fo >= 0 ? fo : 0), a + uo, a + oo, cp, cn, cr, WCI, WCF, WCO, fb, cc, H);
        }, peep, fo >= 0, cr != nullptr);
        T* k = K + (t * B + b) * H;
        if (ln) {
          T mean, rstd;
          moments(cn, H, o.eps, mean, rstd);
          NR[t * B + b] = rstd;
          T* nh = NHAT + (t * B + b) * H;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) { nh[j] = (cn[j] - mean) * rstd; k[j] = std::tanh(nh[j] * GC[j] + BC[j]); }
        } else {
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) k[j] = std::tanh(cn[j]);
        }
        T* m = proj ? MA + (t * B + b) * H : Y + (t * B + b) * P;   // without projection h_t = m_t
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) m[j] = a[oo + j] * k[j];
      }
      if (proj) (*projection)(HP + b0 * P, nullptr, MA + (t * B + b0) * H, nb);
      // carry: the wrappers' effect on the state, then the length mask
      for (int64_t b = b0; b < b1; ++b) {
        T* yr = Y + (t * B + b) * P;
        T* hn = HA + ((t + 1) * B + b) * P;
        T* cnext = CA + ((t + 1) * B + b) * H;
        const T* hpv = h_prev + b * P;
        const T* cp = c_prev_all + b * H;
        const T* cn = cn_all + b * H;
        if (proj) {
          const T* src = HP + b * P;
          T* hr = HR ? HR + (t * B + b) * P : nullptr;
          for (int64_t j = 0; j < P; ++j) {
            T v = src[j];
            if (hr) { hr[j] = v; v = v < -pc ? -pc : (v > pc ? pc : v); }
            yr[j] = v;
          }
        }
        if (!live(M, t, B, b)) {
          for (int64_t j = 0; j < P; ++j) { hn[j] = hpv[j]; yr[j] = T(0); }
          for (int64_t j = 0; j < H; ++j) cnext[j] = cp[j];
          continue;
        }
        const T* dh = o.zone.draw(zrow.data(), P, t * B + b, kStreamH);
        if (const T* dc = o.zone.draw(zrow.data() + P, H, t * B + b, kStreamC)) {
          for (int64_t j = 0; j < H; ++j) cnext[j] = dc[j] * cp[j] + (T(1) - dc[j]) * cn[j];
        }  // else cnext is cn already (written in place) on live rows
        carry_h(yr, hn, hpv, dh, HS ? HS + b * P : nullptr, P);
      }
    }
  });
  return {y, h_all, c_all, gates, k_all, c_new.value_or(Tensor()), c_raw.value_or(Tensor()),
          m_all.value_or(Tensor()), hp_raw.value_or(Tensor()), z_hat.value_or(Tensor()),
          z_rstd.value_or(Tensor()), n_hat.value_or(Tensor()), n_rstd.value_or(Tensor())};
}

template <typename T>
std::vector<Tensor> backward_impl(const Tensor& dy, const Tensor& dh_T, const Tensor& dc_T, const OptT& mask, const OptT& y,
                                  const Tensor& gates, const Tensor& h_all, const Tensor& c_all, const Tensor& k_all,
                                  const OptT& c_new, const OptT& c_raw, const OptT& hp_raw, const OptT& z_hat,
                                  const OptT& z_rstd, const OptT& n_hat, const OptT& n_rstd,
                                  const Tensor& W_hh, const OptT& w_ci, const OptT& w_cf, const OptT& w_co,
                                  const OptT& g_hh, const OptT& g_c, const OptT& W_proj,
                                  const OptT& h_scale, const Opts& o) {
  const int64_t T_ = gates.size(0), B = gates.size(1), GH = gates.size(2), H = c_all.size(2), P = h_all.size(2);
  const bool ln = g_hh.has_value(), proj = W_proj.has_value(), peep = w_ci.has_value();
  const bool zone = o.zone.on;
  const int64_t fo = o.forget_gate ? H : -1, uo = o.forget_gate ? 2 * H : H, oo = o.forget_gate ? 3 * H : 2 * H;
  Tensor dgx = pass_buffer(gates.sizes(), gates.options());                     // d a_t        (T, B, GH)
  OptT dz_all = ln ? OptT(pass_buffer(gates.sizes(), gates.options())) : OptT();  // d (h W_hh)   (T, B, GH)
  OptT dhp_all = proj ? OptT(pass_buffer({T_, B, P}, gates.options())) : OptT();
  // per-row sums over the steps of the small parameters' gradients, reduced over rows at the end
  OptT acc_ghh = ln ? OptT(at::zeros({B, GH}, gates.options())) : OptT();       // layer norm gain of h W_hh
  OptT acc_c = ln ? OptT(at::zeros({2, B, H}, gates.options())) : OptT();       // gain, bias of LN(c)
  OptT acc_peep = peep ? OptT(at::zeros({3, B, H}, gates.options())) : OptT();  // w_ci, w_cf, w_co
  Tensor dh = dh_T.clone(), dc = dc_T.clone();                                // carried-state grads
  Tensor dh_new = at::empty({B, P}, gates.options()), dh_dir = at::zeros({B, P}, gates.options());
  OptT dm_buf = proj ? OptT(at::empty({B, H}, gates.options())) : OptT();

  const T *DY = dy.data_ptr<T>(), *M = ptr<T>(mask), *G = gates.data_ptr<T>(), *HA = h_all.data_ptr<T>();
  const T *CA = c_all.data_ptr<T>(), *K = k_all.data_ptr<T>(), *CN = ptr<T>(c_new), *CR = ptr<T>(c_raw);
  const T *HR = ptr<T>(hp_raw), *ZHAT = ptr<T>(z_hat), *ZR = ptr<T>(z_rstd), *NHAT = ptr<T>(n_hat);
  const T *NR = ptr<T>(n_rstd), *W = W_hh.data_ptr<T>(), *WCI = ptr<T>(w_ci), *WCF = ptr<T>(w_cf);
  const T *WCO = ptr<T>(w_co), *GHH = ptr<T>(g_hh), *GC = ptr<T>(g_c), *WP = ptr<T>(W_proj);
  const T* HS = ptr<T>(h_scale);
  OptT d_scale = HS ? OptT(at::zeros({B, P}, gates.options())) : OptT();   // d h_scale
  const T* Y_ = HS ? y->data_ptr<T>() : nullptr;
  T* DS = mptr<T>(d_scale);
  T *DGX = dgx.data_ptr<T>(), *DZ = mptr<T>(dz_all), *DHP = mptr<T>(dhp_all);
  T *ACC_GHH = mptr<T>(acc_ghh), *ACC_C = mptr<T>(acc_c), *ACC_P = mptr<T>(acc_peep);
  T *DH = dh.data_ptr<T>(), *DC = dc.data_ptr<T>(), *DHN = dh_new.data_ptr<T>(), *DHD = dh_dir.data_ptr<T>();
  T *DM = proj ? dm_buf->data_ptr<T>() : DHN;
  const T cc = T(o.cell_clip), pc = T(o.proj_clip);
  const Tensor W_hh_t = W_hh.t().contiguous();                               // (G*H, P)
  const RowBlocks blocks(B);
  const StepWeight<T> recurrent_t(W_hh_t);                            // dz W_hh^T as an NN product
  Tensor W_proj_t;
  std::optional<StepWeight<T>> projection_t;
  if (proj) { W_proj_t = W_proj->t().contiguous(); projection_t.emplace(W_proj_t); }
  const bool any_dir = zone || M;

  blocks.run([&](int64_t b0, int64_t b1) {
    const int64_t nb = b1 - b0;
    std::vector<T> row(std::max(GH, H)), row2(H), zrow(zone ? std::max(P, H) : 0);
    for (int64_t t = T_ - 1; t >= 0; --t) {
      // 1. gradient reaching the cell's own h_t, and the part passing straight to h_{t-1}
      for (int64_t b = b0; b < b1; ++b) {
        const T* gh = DH + b * P;
        const T* dyr = DY + (t * B + b) * P;
        T* dn = DHN + b * P;
        T* dd = DHD + b * P;
        if (!live(M, t, B, b)) {
          for (int64_t j = 0; j < P; ++j) { dn[j] = T(0); dd[j] = gh[j]; }
          if (proj) { T* dp = DHP + (t * B + b) * P; for (int64_t j = 0; j < P; ++j) dp[j] = T(0); }
          continue;
        }
        const T* d = o.zone.draw(zrow.data(), P, t * B + b, kStreamH);
        carry_h_back(gh, dyr, d, HS ? HS + b * P : nullptr, HS ? Y_ + (t * B + b) * P : nullptr,
                     HS ? DS + b * P : nullptr, dn, dd, P);
        if (HR) {
          const T* hr = HR + (t * B + b) * P;
          for (int64_t j = 0; j < P; ++j) if (std::abs(hr[j]) > pc) dn[j] = T(0);
        }
        if (proj) { T* dp = DHP + (t * B + b) * P; for (int64_t j = 0; j < P; ++j) dp[j] = dn[j]; }
      }
      if (proj) (*projection_t)(DM + b0 * H, nullptr, DHN + b0 * P, nb);      // dm = dh_new W_proj^T
      // 2. the gates: d a_t, and dc_{t-1}
      for (int64_t b = b0; b < b1; ++b) {
        const T* g = G + (t * B + b) * GH;
        const T* k = K + (t * B + b) * H;
        const T* cp = CA + (t * B + b) * H;
        const T* dm = DM + b * H;
        T* dcr = DC + b * H;                                   // carried dc in, dc_{t-1} out
        T* da = DGX + (t * B + b) * GH;
        if (!live(M, t, B, b)) {                               // the state passed through: dc_{t-1} = dc
          for (int64_t j = 0; j < GH; ++j) da[j] = T(0);
          if (ln) for (int64_t j = 0; j < GH; ++j) DZ[(t * B + b) * GH + j] = T(0);
          continue;
        }
        T* dk = row.data();                                    // d c_t through k
        output_backward<T>(dm, k, g + oo, da + oo, dk, H);
        if (ln) {
          const T* nh = NHAT + (t * B + b) * H;
          T* ag = ACC_C + b * H;
          T* ab = ACC_C + (B + b) * H;
#pragma omp simd
          for (int64_t j = 0; j < H; ++j) { ag[j] += dk[j] * nh[j]; ab[j] += dk[j]; dk[j] *= GC[j]; }
          layer_norm_back(dk, nh, NR[t * B + b], H, row2.data());
          dk = row2.data();
        }
        const T* zc = o.zone.draw(zrow.data(), H, t * B + b, kStreamC);
        const T* cr = CR ? CR + (t * B + b) * H : nullptr;
        with_flags([&](auto PEEP, auto FG, auto CLIP, auto ZONE) {
          cell_backward<T, decltype(PEEP)::value, decltype(FG)::value, decltype(CLIP)::value, decltype(ZONE)::value>(
              g, g + (fo >= 0 ? fo : 0), g + uo, da + oo, dk, cp, cr, zc, WCI, WCF, WCO, da, da + (fo >= 0 ? fo : 0),
              da + uo, dcr, cc, H, CN ? CN + (t * B + b) * H : CA + ((t + 1) * B + b) * H,
              ACC_P ? ACC_P + b * H : nullptr, ACC_P ? ACC_P + (B + b) * H : nullptr,
              ACC_P ? ACC_P + (2 * B + b) * H : nullptr);
        }, peep, fo >= 0, cr != nullptr, zone);
        if (ln) {
          T* dzr = DZ + (t * B + b) * GH;
          const T* zh = ZHAT + (t * B + b) * GH;
          T* acc = ACC_GHH + b * GH;
#pragma omp simd
          for (int64_t j = 0; j < GH; ++j) { row[j] = da[j] * GHH[j]; acc[j] += da[j] * zh[j]; }
          layer_norm_back(row.data(), zh, ZR[t * B + b], GH, dzr);
        }
      }
      // 3. dh_{t-1} = dz W_hh^T (+ the part that passed straight through), for this block's rows
      const T* dz = (ln ? DZ : DGX) + (t * B + b0) * GH;
      recurrent_t(DH + b0 * P, any_dir ? DHD + b0 * P : nullptr, dz, nb);
    }
  });
  // the small parameters' gradients: sums over the rows (and steps) of what was accumulated
  auto rows_sum = [](const OptT& acc) { return acc.has_value() ? acc->sum(-2) : Tensor(); };
  return {dgx, dz_all.value_or(Tensor()), dhp_all.value_or(Tensor()), dh, dc, d_scale.value_or(Tensor()),
          rows_sum(acc_ghh), rows_sum(acc_c), rows_sum(acc_peep)};
}


}  // namespace

std::vector<Tensor> lstm_forward(Tensor gx, Tensor h0, Tensor c0, OptT mask, Tensor W_hh, OptT w_ci, OptT w_cf,
                                 OptT w_co, OptT g_hh, OptT g_c, OptT b_c, OptT W_proj, OptT h_scale,
                                 bool forget_gate, double forget_bias, double cell_clip, double proj_clip, double eps,
                                 bool zone, bool zone_train, double zone_p, double zone_pc, int64_t zone_seed) {
  const char* op = "rnnkit::lstm_forward";
  for (auto [name, t] : {std::pair{"gx", OptT(gx)}, {"h0", OptT(h0)}, {"c0", OptT(c0)}, {"mask", mask},
                         {"W_hh", OptT(W_hh)}, {"w_ci", w_ci}, {"w_cf", w_cf}, {"w_co", w_co}, {"g_hh", g_hh},
                         {"g_c", g_c}, {"b_c", b_c}, {"W_proj", W_proj}, {"h_scale", h_scale}})
    check_arg(op, name, t, gx);
  RNNKIT_SHAPE(op, gx, -1, -1, -1);
  const int64_t T_ = gx.size(0), B = gx.size(1), GH = gx.size(2), H = c0.size(-1), P = h0.size(-1);
  RNNKIT_SHAPE(op, h0, B, P);
  RNNKIT_SHAPE(op, c0, B, H);
  TORCH_CHECK(GH == (forget_gate ? 4 : 3) * H, op, ": expected gx of width ", (forget_gate ? 4 : 3) * H,
              " (the gates of c0's ", H, " units); received ", GH);
  RNNKIT_SHAPE(op, mask, T_, B);
  RNNKIT_SHAPE(op, W_hh, P, GH);
  RNNKIT_SHAPE(op, W_proj, H, P);
  RNNKIT_SHAPE(op, h_scale, B, P);
  TORCH_CHECK(W_proj.has_value() || P == H, op, ": expected h0 of width ", H, " without a projection; received ", P);
  const Opts o{forget_gate, forget_bias, cell_clip, proj_clip, eps,
               Zone{zone, zone_train, zone_p, zone_pc, zone_seed}};
  return AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "rnnkit_lstm_forward", [&] {
    return forward_impl<scalar_t>(gx, h0, c0, mask, W_hh, w_ci, w_cf, w_co, g_hh, g_c, b_c, W_proj, h_scale, o);
  });
}

std::vector<Tensor> lstm_backward(Tensor dy, Tensor dh_T, Tensor dc_T, OptT mask, OptT y, Tensor gates, Tensor h_all,
                                  Tensor c_all, Tensor k_all, OptT c_new, OptT c_raw, OptT hp_raw, OptT z_hat,
                                  OptT z_rstd, OptT n_hat, OptT n_rstd, Tensor W_hh, OptT w_ci, OptT w_cf,
                                  OptT w_co, OptT g_hh, OptT g_c, OptT W_proj, OptT h_scale,
                                  bool forget_gate, double forget_bias, double cell_clip, double proj_clip, double eps,
                                  bool zone, bool zone_train, double zone_p, double zone_pc, int64_t zone_seed) {
  const char* op = "rnnkit::lstm_backward";
  for (auto [name, t] : {std::pair{"dy", OptT(dy)}, {"dh_T", OptT(dh_T)}, {"dc_T", OptT(dc_T)}, {"mask", mask},
                         {"y", y}, {"h_all", OptT(h_all)}, {"c_all", OptT(c_all)}, {"k_all", OptT(k_all)},
                         {"c_new", c_new}, {"c_raw", c_raw}, {"hp_raw", hp_raw}, {"z_hat", z_hat}, {"z_rstd", z_rstd},
                         {"n_hat", n_hat}, {"n_rstd", n_rstd}, {"W_hh", OptT(W_hh)}, {"w_ci", w_ci}, {"w_cf", w_cf},
                         {"w_co", w_co}, {"g_hh", g_hh}, {"g_c", g_c}, {"W_proj", W_proj}, {"h_scale", h_scale}})
    check_arg(op, name, t, gates);
  RNNKIT_SHAPE(op, gates, -1, -1, -1);
  const int64_t T_ = gates.size(0), B = gates.size(1), H = c_all.size(-1), P = h_all.size(-1);
  RNNKIT_SHAPE(op, dy, T_, B, P);
  RNNKIT_SHAPE(op, h_all, T_ + 1, B, P);
  RNNKIT_SHAPE(op, c_all, T_ + 1, B, H);
  RNNKIT_SHAPE(op, dh_T, B, P);
  RNNKIT_SHAPE(op, dc_T, B, H);
  const Opts o{forget_gate, forget_bias, cell_clip, proj_clip, eps,
               Zone{zone, zone_train, zone_p, zone_pc, zone_seed}};
  return AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "rnnkit_lstm_backward", [&] {
    return backward_impl<scalar_t>(dy, dh_T, dc_T, mask, y, gates, h_all, c_all, k_all, c_new, c_raw, hp_raw, z_hat,
                                   z_rstd, n_hat, n_rstd, W_hh, w_ci, w_cf, w_co, g_hh, g_c, W_proj, h_scale, o);
  });
}

// The masks the kernel draws for (seed, p, pc): (T, B, P) for h and (T, B, H) for c (for tests).
std::vector<Tensor> zoneout_masks(int64_t T_, int64_t B, int64_t P, int64_t H, double p, double pc, bool train,
                                  int64_t seed, at::ScalarType dtype) {
  Tensor zh = at::empty({T_, B, P}, at::TensorOptions().dtype(dtype));
  Tensor zc = at::empty({T_, B, H}, at::TensorOptions().dtype(dtype));
  AT_DISPATCH_FLOATING_TYPES(dtype, "rnnkit_zoneout_masks", [&] {
    const Zone zone{true, train, p, pc, seed};
    for (int64_t r = 0; r < T_ * B; ++r) {
      zone.draw(zh.data_ptr<scalar_t>() + r * P, P, r, kStreamH);
      zone.draw(zc.data_ptr<scalar_t>() + r * H, H, r, kStreamC);
    }
  });
  return {zh, zc};
}

}  // namespace rnnkit
