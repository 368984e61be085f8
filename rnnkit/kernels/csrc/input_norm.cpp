// Layer norm of the input's share of the gates, LN(x W_ih) g + b, for all T*B rows at once: the
// compiled LSTM and GRU operators run it inside their own autograd node (rnnkit/kernels/ops.py)
// instead of three separate ones (matmul output -> LayerNorm -> + bias) under autograd.
#include "common.h"

namespace rnnkit {

// gx (rows, n) = LN(xw) g + bias; also x_hat and 1/sigma per row, for the backward pass.
std::vector<Tensor> input_norm_forward(Tensor xw, Tensor g, OptT bias, double eps) {
  const char* op = "rnnkit::input_norm_forward";
  RNNKIT_CHECK(op, xw, xw);
  RNNKIT_CHECK(op, xw, g);
  RNNKIT_CHECK(op, xw, bias);
  RNNKIT_SHAPE(op, g, xw.size(-1));
  RNNKIT_SHAPE(op, bias, xw.size(-1));
  const int64_t n = xw.size(-1), rows = xw.numel() / n;
  Tensor gx = pass_buffer(xw.sizes(), xw.options()), x_hat = pass_buffer(xw.sizes(), xw.options());
  std::vector<int64_t> lead(xw.sizes().begin(), xw.sizes().end() - 1);
  Tensor rstd = at::empty(lead, xw.options());
  AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "rnnkit_input_norm_forward", [&] {
    input_layer_norm<scalar_t>(xw.data_ptr<scalar_t>(), gx.data_ptr<scalar_t>(), x_hat.data_ptr<scalar_t>(),
                               rstd.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), ptr<scalar_t>(bias), rows, n, eps);
  });
  return {gx, x_hat, rstd};
}

// d xw, d g, d bias from d gx (which is overwritten with d xw and returned).
std::vector<Tensor> input_norm_backward(Tensor dgx, Tensor x_hat, Tensor rstd, Tensor g) {
  const char* op = "rnnkit::input_norm_backward";
  for (auto [name, t] : {std::pair{"dgx", &dgx}, {"x_hat", &x_hat}, {"rstd", &rstd}, {"g", &g}}) check_arg(op, name, *t, dgx);
  TORCH_CHECK(x_hat.sizes() == dgx.sizes(), op, ": expected x_hat shaped like dgx ", dgx.sizes(), "; received ", x_hat.sizes());
  const int64_t n = dgx.size(-1), rows = dgx.numel() / n;
  Tensor dg = at::zeros({n}, dgx.options()), db = at::zeros({n}, dgx.options());
  AT_DISPATCH_FLOATING_TYPES(dgx.scalar_type(), "rnnkit_input_norm_backward", [&] {
    input_layer_norm_back<scalar_t>(dgx.data_ptr<scalar_t>(), x_hat.data_ptr<scalar_t>(), rstd.data_ptr<scalar_t>(),
                                    g.data_ptr<scalar_t>(), dg.data_ptr<scalar_t>(), db.data_ptr<scalar_t>(), rows, n);
  });
  return {dgx, dg, db};
}

}  // namespace rnnkit
