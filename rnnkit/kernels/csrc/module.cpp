// The Python module: the entry points of lstm.cpp, gru.cpp, elman.cpp, input_norm.cpp, scan.cpp, eunn.cpp and step.cpp
// (rnnkit/kernels/native.py builds it).
#include <torch/extension.h>

#include <optional>
#include <vector>

namespace rnnkit {
using at::Tensor;
using OptT = std::optional<Tensor>;

std::vector<Tensor> lstm_forward(Tensor gx, Tensor h0, Tensor c0, OptT mask, Tensor W_hh, OptT w_ci, OptT w_cf,
                                 OptT w_co, OptT g_hh, OptT g_c, OptT b_c, OptT W_proj, OptT h_scale,
                                 bool forget_gate, double forget_bias, double cell_clip, double proj_clip, double eps,
                                 bool zone, bool zone_train, double zone_p, double zone_pc, int64_t zone_seed);
std::vector<Tensor> lstm_backward(Tensor dy, Tensor dh_T, Tensor dc_T, OptT mask, OptT y, Tensor gates, Tensor h_all,
                                  Tensor c_all, Tensor k_all, OptT c_new, OptT c_raw, OptT hp_raw, OptT z_hat,
                                  OptT z_rstd, OptT n_hat, OptT n_rstd, Tensor W_hh, OptT w_ci, OptT w_cf,
                                  OptT w_co, OptT g_hh, OptT g_c, OptT W_proj, OptT h_scale,
                                  bool forget_gate, double forget_bias, double cell_clip, double proj_clip, double eps,
                                  bool zone, bool zone_train, double zone_p, double zone_pc, int64_t zone_seed);
std::vector<Tensor> zoneout_masks(int64_t T_, int64_t B, int64_t P, int64_t H, double p, double pc, bool train,
                                  int64_t seed, at::ScalarType dtype);
std::vector<Tensor> gru_forward(Tensor gx, Tensor h0, OptT mask, Tensor W_hh, OptT b_hh, OptT g_hh, OptT h_scale,
                                bool reset_after, double eps, bool zone, bool zone_train, double zone_p,
                                double zone_pc, int64_t zone_seed);
std::vector<Tensor> gru_backward(Tensor dy, Tensor dh_T, OptT mask, OptT y, Tensor gates, Tensor h_all, Tensor side,
                                 OptT z_hat, OptT z_rstd, Tensor W_hh, OptT g_hh, OptT h_scale, bool reset_after,
                                 double eps, bool zone, bool zone_train, double zone_p, double zone_pc,
                                 int64_t zone_seed);
std::vector<Tensor> input_norm_forward(Tensor xw, Tensor g, OptT bias, double eps);
std::vector<Tensor> input_norm_backward(Tensor dgx, Tensor x_hat, Tensor rstd, Tensor g);
std::vector<Tensor> elman_forward(Tensor gx, Tensor h0, OptT mask, Tensor W_hh, OptT h_scale, bool relu, bool zone,
                                  bool zone_train, double zone_p, double zone_pc, int64_t zone_seed);
std::vector<Tensor> elman_backward(Tensor dy, Tensor dh_T, OptT mask, Tensor h_new, Tensor W_hh, OptT h_scale,
                                   bool relu, bool zone, bool zone_train, double zone_p, double zone_pc,
                                   int64_t zone_seed);
Tensor linear_scan_forward(Tensor a, Tensor b, Tensor h0);
std::vector<Tensor> linear_scan_backward(Tensor dh, Tensor a, Tensor h, Tensor h0);
Tensor min_rnn_forward(Tensor gx, Tensor h0, OptT mask, int64_t kind, int64_t act);
std::vector<Tensor> min_rnn_backward(Tensor dh, Tensor gx, Tensor h, Tensor h0, OptT mask, int64_t kind, int64_t act);
Tensor eunn_forward(Tensor gx, Tensor h0, OptT mask, Tensor v, Tensor w, Tensor d, Tensor bias, Tensor partner,
                    double eps);
std::vector<Tensor> eunn_backward(Tensor dH, Tensor gx, Tensor H, Tensor h0, OptT mask, Tensor v, Tensor w, Tensor d,
                                  Tensor bias, Tensor partner, double eps);
Tensor step_product(Tensor a, Tensor w, int64_t repeats);
}  // namespace rnnkit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &rnnkit::lstm_forward, "LSTM recurrence forward (time-major)");
  m.def("lstm_backward", &rnnkit::lstm_backward, "LSTM recurrence backward through time");
  m.def("gru_forward", &rnnkit::gru_forward, "GRU recurrence forward (time-major)");
  m.def("gru_backward", &rnnkit::gru_backward, "GRU recurrence backward through time");
  m.def("elman_forward", &rnnkit::elman_forward, "Elman recurrence forward (time-major)");
  m.def("elman_backward", &rnnkit::elman_backward, "Elman recurrence backward through time");
  m.def("input_norm_forward", &rnnkit::input_norm_forward, "LN(x W_ih) g + b for all rows");
  m.def("input_norm_backward", &rnnkit::input_norm_backward, "input_norm_forward backwards (dgx overwritten)");
  m.def("linear_scan_forward", &rnnkit::linear_scan_forward, "h_t = a_t h_{t-1} + b_t for all t (batch-first)");
  m.def("linear_scan_backward", &rnnkit::linear_scan_backward, "linear_scan_forward backwards: d a, d b, d h0");
  m.def("min_rnn_forward", &rnnkit::min_rnn_forward, "minGRU / minLSTM gates and scan, batch-first");
  m.def("min_rnn_backward", &rnnkit::min_rnn_backward, "min_rnn_forward backwards: d gx, d h0");
  m.def("eunn_forward", &rnnkit::eunn_forward, "EUNN: rotations, phases and modReLU over time, batch-first");
  m.def("eunn_backward", &rnnkit::eunn_backward, "eunn_forward backwards: d gx, d h0, d v, d w, d d, d bias");
  m.def("zoneout_masks", &rnnkit::zoneout_masks, "zoneout masks drawn by the kernels, for tests");
  m.def("step_product", &rnnkit::step_product, "a @ w by the time loops' step-product kernel (tests, benchmarks)");
}
