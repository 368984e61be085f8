// The recurrences' step products (StepWeight, common.h) on their own, for tests and benchmarks: the same
// kernel the time loops call, on one thread, so that its result and its rate can be compared with torch.mm.
#include "common.h"

namespace rnnkit {

// a (M, K) @ w (K, N), computed `repeats` times in a row (a benchmark's loop over the steps); the product.
Tensor step_product(Tensor a, Tensor w, int64_t repeats) {
  const char* op = "rnnkit::step_product";
  RNNKIT_CHECK(op, a, a);
  RNNKIT_CHECK(op, a, w);
  RNNKIT_SHAPE(op, a, -1, -1);
  RNNKIT_SHAPE(op, w, a.size(1), -1);
  TORCH_CHECK(repeats >= 1, op, ": expected repeats >= 1; received ", repeats);
  Tensor out = at::empty({a.size(0), w.size(1)}, a.options());
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "rnnkit_step_product", [&] {
    const StepWeight<scalar_t> weight(w);
    for (int64_t r = 0; r < repeats; ++r) weight(out.data_ptr<scalar_t>(), nullptr, a.data_ptr<scalar_t>(), a.size(0));
  });
  return out;
}

}  // namespace rnnkit
