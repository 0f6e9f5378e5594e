// O(1) training memory of the DEQ in the number of forward iterations (IFT
// backward) vs O(K) for backprop through K unrolled layers, measured with the
// heap counter (core/memory_tracker.hpp, linked into this executable).
#include "core/data.hpp"
#include "core/memory_tracker.hpp"
#include "core/metrics.hpp"
#include "deq/deq_model.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/unrolled_network.hpp"

#include <doctest/doctest.h>

using namespace implicit;

namespace {

struct Setup {
  std::shared_ptr<const MatrixX<float>> a;
  MatrixX<float> x, b;
  double lipschitz;
};

Setup MakeSetup() {
  Rng rng(3);
  Setup s;
  s.a = std::make_shared<const MatrixX<float>>(GaussianMeasurementMatrix<float>(50, 100, rng));
  s.x = BernoulliGaussian<float>(100, 64, 0.1, rng);
  s.b = *s.a * s.x;
  s.lipschitz = EstimateLipschitz<float>(*s.a);
  return s;
}

std::unique_ptr<ProxGradientLayer<float>> Cell(const Setup& s) {
  return std::make_unique<ProxGradientLayer<float>>(s.a, s.a->transpose(), 1.0 / s.lipschitz, 0.1 / s.lipschitz);
}

long long StepPeak(Operator<float>& model, const Setup& s) {
  MatrixX<float> grad_out(100, 64);
  VectorX<float> grad = VectorX<float>::Zero(model.parameters().size());
  const MatrixX<float> z0 = MatrixX<float>::Zero(100, 64);
  HeapPeakScope scope;
  {
    const auto lin = model.Linearize(z0, s.b);
    HalfSquaredErrorLossGradient<float>(lin->Value(), s.x, grad_out);
    lin->VjpParams(grad_out, grad);
  }
  return scope.PeakExtraBytes();
}

long long DeqStepPeak(const Setup& s, int forward_iterations, DeqBackward mode) {
  DeqOptions o;
  o.backward = mode;
  o.forward.max_iterations = forward_iterations;
  o.forward.relative_tolerance = 0.0;   // exactly this many iterations
  o.forward.absolute_tolerance = 1e-30;
  o.forward.trace = FixedPointOptions::Trace::kSummary;
  o.adjoint.max_iterations = 30;
  o.adjoint.trace = FixedPointOptions::Trace::kSummary;
  DeqModel<float> deq(Cell(s), o);
  return StepPeak(deq, s);
}

}  // namespace

TEST_CASE("DEQ training memory does not grow with forward iterations; unrolled memory grows with depth") {
  REQUIRE(MemoryTrackerEnabled());
  const Setup s = MakeSetup();
  const long long deq20 = DeqStepPeak(s, 20, DeqBackward::kImplicit);
  const long long deq500 = DeqStepPeak(s, 500, DeqBackward::kImplicit);
  MESSAGE("DEQ (IFT) training-step peak: 20 iterations " << deq20 << " B, 500 iterations " << deq500 << " B");
  CHECK(deq20 > 0);
  CHECK(static_cast<double>(deq500) <= 1.05 * static_cast<double>(deq20));

  // Full backprop through the same iterations stores every step: ~25x more.
  const long long full20 = DeqStepPeak(s, 20, DeqBackward::kUnrolled);
  const long long full500 = DeqStepPeak(s, 500, DeqBackward::kUnrolled);
  CHECK(static_cast<double>(full500) > 10.0 * static_cast<double>(full20));

  // Unrolled networks: linear in K (equal increments per layer).
  std::vector<long long> peaks;
  for (int depth : {4, 8, 16}) {
    std::vector<std::unique_ptr<Operator<float>>> layers;
    for (int k = 0; k < depth; ++k) layers.push_back(Cell(s));
    UnrolledNetwork<float> net(std::move(layers));
    peaks.push_back(StepPeak(net, s));
  }
  MESSAGE("unrolled training-step peak: K=4 " << peaks[0] << " B, K=8 " << peaks[1] << " B, K=16 " << peaks[2] << " B");
  const double per_layer_4_to_8 = (peaks[1] - peaks[0]) / 4.0;
  const double per_layer_8_to_16 = (peaks[2] - peaks[1]) / 8.0;
  CHECK(per_layer_4_to_8 > 0.0);
  CHECK(per_layer_8_to_16 == doctest::Approx(per_layer_4_to_8).epsilon(0.1));
}
