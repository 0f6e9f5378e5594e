#include "core/optimizers.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace implicit;

namespace {
// f(p) = 0.5 sum_i c_i (p_i - t_i)^2, a badly scaled quadratic with a known minimiser t.
struct Quadratic {
  Eigen::VectorXd c{{1.0, 10.0, 100.0}};
  Eigen::VectorXd t{{1.0, -2.0, 0.5}};
  Eigen::VectorXd Grad(const Eigen::VectorXd& p) const { return c.cwiseProduct(p - t); }
};
}  // namespace

TEST_CASE("Adam's first step matches the closed form") {
  // After one step with bias correction, Adam moves every coordinate by ~lr * sign(g).
  Adam<double> adam(2, AdamOptions{.learning_rate = 0.1});
  Eigen::VectorXd p{{1.0, -1.0}};
  const Eigen::VectorXd g{{3.0, -0.5}};
  adam.Step(p, g);
  // m_hat = g, v_hat = g^2: update = lr * g / (|g| + eps).
  CHECK(p(0) == doctest::Approx(1.0 - 0.1 * 3.0 / (3.0 + 1e-8)).epsilon(1e-14));
  CHECK(p(1) == doctest::Approx(-1.0 + 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
  CHECK(adam.state().step == 1);
}

TEST_CASE("Adam and SGD with momentum minimise a badly scaled quadratic") {
  Quadratic q;
  {
    Adam<double> adam(3, AdamOptions{.learning_rate = 0.05});
    Eigen::VectorXd p = Eigen::VectorXd::Zero(3);
    for (int i = 0; i < 3000; ++i) adam.Step(p, q.Grad(p));
    CHECK((p - q.t).norm() < 1e-3);
  }
  for (bool nesterov : {false, true}) {
    Sgd<double> sgd(3, SgdOptions{.learning_rate = 0.005, .momentum = 0.9, .nesterov = nesterov});
    Eigen::VectorXd p = Eigen::VectorXd::Zero(3);
    for (int i = 0; i < 3000; ++i) sgd.Step(p, q.Grad(p));
    CHECK((p - q.t).norm() < 1e-6);
  }
}

TEST_CASE("optimiser state round-trips so training resumes exactly") {
  Quadratic q;
  Adam<double> a(3, {}), b(3, {});
  Eigen::VectorXd pa = Eigen::VectorXd::Zero(3);
  for (int i = 0; i < 10; ++i) a.Step(pa, q.Grad(pa));
  Eigen::VectorXd pb = pa;
  b.set_state(a.state());
  a.Step(pa, q.Grad(pa));
  b.Step(pb, q.Grad(pb));
  CHECK(pa == pb);
  OptimizerState<double> bad = a.state();
  bad.buffers.pop_back();
  CHECK_THROWS_AS(b.set_state(bad), Error);
}

TEST_CASE("options are validated") {
  std::string error;
  CHECK_FALSE(AdamOptions{.beta1 = 1.0}.IsValid(&error));
  CHECK(error.find("beta1") != std::string::npos);
  CHECK_THROWS_AS(Adam<float>(3, AdamOptions{.learning_rate = -1.0}), Error);
  CHECK_FALSE(SgdOptions{.momentum = 0.0, .nesterov = true}.IsValid(&error));
  Adam<float> adam(3, {});
  VectorX<float> p(2), g(2);
  CHECK_THROWS_AS(adam.Step(p, g), Error);
}

TEST_CASE("gradient-norm clipping") {
  Eigen::VectorXd g{{3.0, 4.0}};
  CHECK(ClipGradientNorm<double>(g, 1.0) == doctest::Approx(5.0));
  CHECK(g.norm() == doctest::Approx(1.0).epsilon(1e-5));
  Eigen::VectorXd small{{0.3, 0.4}};
  ClipGradientNorm<double>(small, 1.0);
  CHECK(small(0) == 0.3);
  Eigen::VectorXd bad{{1.0, std::nan("")}};
  CHECK_THROWS_AS(ClipGradientNorm<double>(bad, 1.0), Error);
}

TEST_CASE("learning-rate schedules") {
  LearningRateSchedule step{.kind = LearningRateSchedule::Kind::kStepDecay, .base = 1.0,
                            .step_size = 10, .gamma = 0.5};
  CHECK(step.At(0) == 1.0);
  CHECK(step.At(9) == 1.0);
  CHECK(step.At(10) == 0.5);
  CHECK(step.At(25) == 0.25);
  LearningRateSchedule cosine{.kind = LearningRateSchedule::Kind::kCosine, .base = 1.0,
                              .total_steps = 100, .min_lr = 0.1};
  CHECK(cosine.At(0) == doctest::Approx(1.0));
  CHECK(cosine.At(50) == doctest::Approx(0.55));
  CHECK(cosine.At(100) == doctest::Approx(0.1));
  CHECK(cosine.At(1000) == doctest::Approx(0.1));
  std::string error;
  CHECK_FALSE(LearningRateSchedule{.kind = LearningRateSchedule::Kind::kStepDecay, .step_size = 0}.IsValid(&error));
  CHECK(LearningRateSchedule::ParseKind("step") == LearningRateSchedule::Kind::kStepDecay);
  CHECK_THROWS_AS(LearningRateSchedule::ParseKind("exp"), Error);
}
