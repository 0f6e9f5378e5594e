// Descent-constrained training (Hadou, NaderiAlizadeh, Ribeiro 2023):
// gradient checks of the new VJPs (the proximal-gradient-mapping norm and the
// whole batch Lagrangian) in double, the projected dual ascent, and a tiny
// constrained model that satisfies its constraints on held-out samples.
#include "core/data.hpp"
#include "core/gradient_check.hpp"
#include "unfolding/descent_constrained.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/unrolled_network.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

using namespace implicit;
using M = Eigen::MatrixXd;

namespace {

struct Tiny {
  std::shared_ptr<const M> a;
  double lipschitz = 0.0;
};

Tiny MakeTiny(Index m, Index n, std::uint64_t seed) {
  Rng rng(seed);
  Tiny t;
  t.a = std::make_shared<const M>(GaussianMeasurementMatrix<double>(m, n, rng));
  t.lipschitz = EstimateLipschitz<double>(*t.a);
  return t;
}

// K LISTA-CP layers soft(z + gamma W (b - A z), theta), W learned, initialised
// at W = A^T with step gamma (in units of 1/L) and threshold lambda / L.
std::unique_ptr<UnrolledNetwork<double>> ProxNet(const Tiny& t, Index depth, double gamma_times_l, double lambda) {
  std::vector<std::unique_ptr<Operator<double>>> layers;
  for (Index k = 0; k < depth; ++k) {
    layers.push_back(std::make_unique<ProxGradientLayer<double>>(t.a, t.a->transpose(), gamma_times_l / t.lipschitz,
                                                                 lambda / t.lipschitz, ProxGradientConfig{true, 0.0}));
  }
  return std::make_unique<UnrolledNetwork<double>>(std::move(layers));
}

}  // namespace

TEST_CASE("descent: the proximal-gradient mapping norm and its gradient (finite differences, double)") {
  const Tiny t = MakeTiny(6, 10, 3);
  Rng rng(7);
  const M x = test::RandomMatrix(10, 3, rng, 0.7);
  const M b = test::RandomMatrix(6, 3, rng);
  const Eigen::VectorXd weights = test::RandomMatrix(3, 1, rng).col(0);
  const double lambda = 0.1;
  M grad = M::Constant(10, 3, std::nan(""));  // assign contract
  Eigen::Ref<M> ref(grad);
  const Eigen::VectorXd norms = ProxGradientMappingNorm<double>(*t.a, b, x, lambda, t.lipschitz, &ref);
  // G by its definition, directly.
  for (Index j = 0; j < 3; ++j) {
    const Eigen::VectorXd u = x.col(j) - t.a->transpose() * (*t.a * x.col(j) - b.col(j)) / t.lipschitz;
    const double thr = lambda / t.lipschitz;
    const Eigen::VectorXd soft = u.unaryExpr([&](double v) { return std::abs(v) > thr ? v - std::copysign(thr, v) : 0.0; });
    CHECK(norms(j) == doctest::Approx((t.lipschitz * (x.col(j) - soft)).norm()).epsilon(1e-12));
  }
  auto fn = [&](const Eigen::VectorXd& flat) {
    const Eigen::VectorXd v = ProxGradientMappingNorm<double>(*t.a, b, Eigen::Map<const M>(flat.data(), 10, 3), lambda,
                                                              t.lipschitz);
    return weights.dot(v);
  };
  M weighted = grad;
  for (Index j = 0; j < 3; ++j) weighted.col(j) *= weights(j);
  const GradientCheckResult check = CheckGradient("d||G(x)||/dx", fn, Eigen::Map<const Eigen::VectorXd>(x.data(), x.size()),
                                                  Eigen::Map<const Eigen::VectorXd>(weighted.data(), weighted.size()), {});
  INFO(check.Report());
  CHECK(check.passed);
  // G vanishes at a LASSO minimiser (FISTA run to convergence).
  LassoSolverOptions lo;
  lo.lambda = lambda;
  lo.max_iterations = 20000;
  lo.lipschitz = t.lipschitz;
  M xstar = M::Zero(10, 3);
  SolveLasso<double>(*t.a, b, lo, xstar);
  CHECK(ProxGradientMappingNorm<double>(*t.a, b, xstar, lambda, t.lipschitz).maxCoeff() < 1e-8);
}

TEST_CASE("descent: the batch Lagrangian's parameter gradient (finite differences, double, with injected noise)") {
  const Tiny t = MakeTiny(6, 10, 11);
  auto net = ProxNet(t, 3, 1.0, 0.2);
  Rng rng(12);
  // Perturb the initial parameters so every layer differs.
  net->parameters().Flat() += 0.02 * test::RandomMatrix(net->parameters().size(), 1, rng).col(0);
  const M x = BernoulliGaussian<double>(10, 4, 0.3, rng);
  const M b = *t.a * x + 0.05 * test::RandomMatrix(6, 4, rng);
  const Eigen::VectorXd duals = (Eigen::VectorXd(3) << 0.7, 0.0, 1.3).finished();
  const std::vector<M> noise{0.05 * test::RandomMatrix(10, 4, rng), 0.05 * test::RandomMatrix(10, 4, rng)};
  const Eigen::VectorXd theta0 = net->parameters().Flat();
  const Eigen::VectorXd prefill = test::RandomMatrix(theta0.size(), 1, rng).col(0);
  for (const int variant : {0, 1, 2, 3, 4, 5}) {
    const bool hinge = variant % 2 == 1, objective = variant >= 2;  // measure: ||G|| (0, 1), F (2, 3), log F (4, 5)
    CAPTURE(hinge);
    CAPTURE(objective);
    ConstraintForm form;
    form.per_sample_hinge = hinge;
    form.hinge_tolerance = 0.02;
    form.measure = variant >= 4 ? DescentMeasure::kLogObjective
                   : objective  ? DescentMeasure::kObjective
                                : DescentMeasure::kMappingNorm;
    Eigen::VectorXd grad = prefill;  // accumulate contract
    Eigen::Ref<Eigen::VectorXd> ref(grad);
    const LagrangianEvaluation e =
        EvaluateLagrangian<double>(*net, *t.a, b, x, duals, 0.1, 0.05, t.lipschitz, noise, &ref, form);
    grad -= prefill;
    CHECK(e.lagrangian == doctest::Approx(e.loss + duals.dot(e.slacks)));
    auto fn = [&](const Eigen::VectorXd& theta) {
      net->parameters().Flat() = theta;
      const double v =
          EvaluateLagrangian<double>(*net, *t.a, b, x, duals, 0.1, 0.05, t.lipschitz, noise, nullptr, form).lagrangian;
      net->parameters().Flat() = theta0;
      return v;
    };
    // The Lagrangian sums ||G|| terms of size ~10, so the difference
    // quotient's rounding error is ~1e-16 * 10 / h ~ 1e-10 absolute: an entry
    // of ~2e-5 then carries ~5e-6 relative noise (seen on one AVX-512 machine,
    // not on another). Entries below 1e-4 of the gradient's scale are judged
    // against that scale; the whole vector must still agree to 1e-8.
    GradientCheckOptions options;
    options.relative_floor = 1e-4;
    const GradientCheckResult check = CheckGradient(std::string("dLag/dtheta") + (hinge ? " (hinge)" : "") + (variant >= 4 ? " (log F)" : objective ? " (F)" : ""), fn, theta0, grad, options);
    INFO(check.Report());
    CHECK(check.passed);
    CHECK(check.norm_relative_error < 1e-8);
  }
}

TEST_CASE("descent: the dual update raises the dual of a violated constraint and projects onto mu >= 0") {
  Eigen::VectorXd duals = (Eigen::VectorXd(3) << 0.5, 0.1, 0.0).finished();
  const Eigen::VectorXd slacks = (Eigen::VectorXd(3) << 0.3, -0.5, -0.1).finished();
  DualAscentStep(duals, slacks, 2.0);
  CHECK(duals(0) == doctest::Approx(1.1));  // violated: raised
  CHECK(duals(1) == 0.0);                   // satisfied: lowered, projected to 0
  CHECK(duals(2) == 0.0);
  CHECK(test::Contains(test::ErrorMessage([&] { DualAscentStep(duals, Eigen::VectorXd(2), 1.0); }), "slacks"));

  // Through the trainer: a network whose steps overshoot (gamma = 1.9 / L,
  // no threshold learning yet) violates the last constraints for eps = 0.5;
  // one training step must raise exactly those duals.
  const Tiny t = MakeTiny(10, 20, 21);
  auto net = ProxNet(t, 4, 1.9, 0.05);
  Rng data(22);
  BatchSource<double> source = [&](std::int64_t, M& inputs, M& targets) {
    targets = BernoulliGaussian<double>(20, 64, 0.1, data);
    inputs = *t.a * targets;
  };
  DescentConstrainedOptions o;
  o.steps = 1;
  o.epsilon = 0.5;
  o.lambda = 0.05;
  o.lipschitz = t.lipschitz;
  o.dual_learning_rate = 1.0;
  o.initial_dual = 0.25;
  o.record_every = 1;
  const DescentConstrainedSummary s = TrainDescentConstrained<double>(*net, *t.a, source, o);
  REQUIRE(s.records.size() == 1);
  const Eigen::VectorXd& slack = s.records[0].slacks;
  INFO("slacks " << slack.transpose());
  REQUIRE(slack.maxCoeff() > 0.0);  // some constraint is violated at this initialisation
  for (Index l = 0; l < slack.size(); ++l) {
    if (slack(l) > 0) CHECK(s.duals(l) > 0.25);
    if (slack(l) < 0) CHECK(s.duals(l) < 0.25);
  }
  // Unconstrained: the duals stay 0.
  o.constrained = false;
  CHECK(TrainDescentConstrained<double>(*net, *t.a, source, o).duals.isZero());
}

TEST_CASE("descent: a constrained model on a tiny problem satisfies its constraints on held-out samples") {
  const Tiny t = MakeTiny(10, 20, 31);
  const double lambda = 0.05, eps = 0.3;
  Rng data(32), held(33);
  const M test_x = BernoulliGaussian<double>(20, 500, 0.1, held);
  const M test_b = *t.a * test_x;
  auto make_source = [&](Rng& rng) {
    return BatchSource<double>([&](std::int64_t, M& inputs, M& targets) {
      targets = BernoulliGaussian<double>(20, 32, 0.1, rng);
      inputs = *t.a * targets;
    });
  };
  DescentConstrainedOptions o;
  o.steps = 400;
  o.epsilon = eps;
  o.lambda = lambda;
  o.lipschitz = t.lipschitz;
  o.learning_rate = 1e-2;
  o.min_learning_rate = 1e-3;
  o.dual_learning_rate = 1.0;
  o.record_every = 50;
  // The overshooting initialisation violates some constraints before training.
  auto net = ProxNet(t, 4, 1.9, lambda);
  const DescentEvaluation before = EvaluateDescent<double>(*t.a, test_b, NetworkIterates<double>(*net, test_b), lambda,
                                                           t.lipschitz, eps);
  INFO("held-out slacks before " << before.slacks.transpose());
  REQUIRE_FALSE(before.constraints_satisfied());
  Rng batches(34);
  const DescentConstrainedSummary s = TrainDescentConstrained<double>(*net, *t.a, make_source(batches), o);
  MESSAGE(s.BriefReport());
  REQUIRE(s.termination == DescentConstrainedSummary::Termination::kCompleted);
  const DescentEvaluation after = EvaluateDescent<double>(*t.a, test_b, NetworkIterates<double>(*net, test_b), lambda,
                                                          t.lipschitz, eps);
  INFO("held-out slacks after " << after.slacks.transpose() << ", duals " << s.duals.transpose());
  CHECK(after.constraints_satisfied());
  CHECK(after.mapping_norm(4) < 0.5 * after.mapping_norm(0));
}
