// TrainWithCeres: Levenberg-Marquardt (finite-difference Jacobian) and L-BFGS
// (exact VJP gradient) on a fixed training set, for models with few
// parameters (a 4-layer ALISTA-style network: 8 scalars).
#include "core/data.hpp"
#include "core/gradient_check.hpp"
#include "core/metrics.hpp"
#include "unfolding/ceres_trainer.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/unrolled_network.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <limits>
#include <memory>
#include <vector>

using namespace implicit;

namespace {

// The products here (40x20 times 20x200) are too small to gain from Eigen's
// OpenMP threads, and on a loaded machine the threads' synchronisation makes
// the 2P-forward-pass Jacobians ~10x slower: this executable runs single-threaded.
const bool kSingleThreaded = [] {
  Eigen::setNbThreads(1);
  return true;
}();

// A 20x40 Gaussian A, noiseless Bernoulli-Gaussian (p = 0.1) codes.
struct AlistaProblem {
  std::shared_ptr<const Eigen::MatrixXd> a;
  double lipschitz = 0.0;
  Eigen::MatrixXd x_train, b_train, x_test, b_test;
};

AlistaProblem MakeProblem(Index train_samples, std::uint64_t seed = 11) {
  Rng rng(seed);
  AlistaProblem p;
  p.a = std::make_shared<const Eigen::MatrixXd>(GaussianMeasurementMatrix<double>(20, 40, rng));
  p.x_train = BernoulliGaussian<double>(40, train_samples, 0.1, rng);
  p.b_train = *p.a * p.x_train;
  p.x_test = BernoulliGaussian<double>(40, 500, 0.1, rng);
  p.b_test = *p.a * p.x_test;
  p.lipschitz = EstimateLipschitz<double>(*p.a);
  return p;
}

// K untied ALISTA-style layers: W = A^T fixed, gamma = 1/L, theta = 0.1/L.
std::unique_ptr<UnrolledNetwork<double>> MakeAlista(const AlistaProblem& p, Index depth = 4) {
  ProxGradientConfig config;
  config.learn_weight = false;
  std::vector<std::unique_ptr<Operator<double>>> layers;
  for (Index k = 0; k < depth; ++k) {
    layers.push_back(std::make_unique<ProxGradientLayer<double>>(p.a, p.a->transpose(), 1.0 / p.lipschitz,
                                                                 0.1 / p.lipschitz, config));
  }
  return std::make_unique<UnrolledNetwork<double>>(std::move(layers));
}

double TestNmseDb(const Operator<double>& net, const AlistaProblem& p) {
  Eigen::MatrixXd out(40, p.b_test.cols());
  net.Forward(Eigen::MatrixXd::Zero(40, p.b_test.cols()), p.b_test, out);
  return NmseDb<double>(out, p.x_test);
}

// f(z; x) = p x, but NaN once p > 1.5: a model that blows up for some
// parameter values. Targets 2 x put the unconstrained optimum in the NaN region.
class CappedScale final : public Operator<double> {
 public:
  static constexpr double kCap = 1.5;
  CappedScale(Index n, double p0) : n_(n) {
    parameters_.AddBlock("p", 1, 1);
    parameters_.Flat()(0) = p0;
  }
  std::string name() const override { return "capped_scale"; }
  Index state_dim() const override { return n_; }
  Index input_dim() const override { return n_; }
  void Forward(ConstMatRef<double> z, ConstMatRef<double> x, MatRef<double> out) const override {
    CheckInputs(z, x);
    const double p = parameters_.Flat()(0);
    if (p > kCap) {
      out.setConstant(std::numeric_limits<double>::quiet_NaN());
    } else {
      out = p * x;
    }
  }
  std::unique_ptr<Linearization<double>> Linearize(ConstMatRef<double> z, ConstMatRef<double> x) const override {
    Eigen::MatrixXd value(n_, x.cols());
    Forward(z, x, value);
    return std::make_unique<Lin>(parameters_.Flat()(0), x, std::move(value));
  }

 private:
  class Lin final : public Linearization<double> {
   public:
    Lin(double p, const Eigen::MatrixXd& x, Eigen::MatrixXd value) : p_(p), x_(x), value_(std::move(value)) {}
    const Eigen::MatrixXd& Value() const override { return value_; }
    void VjpState(ConstMatRef<double>, MatRef<double> gz) const override { gz.setZero(); }
    void VjpInput(ConstMatRef<double> g, MatRef<double> gx) const override { gx += p_ * g; }
    void VjpParams(ConstMatRef<double> g, VecRef<double> gp) const override {
      gp(0) += (g.array() * x_.array()).sum();
    }

   private:
    double p_;
    Eigen::MatrixXd x_, value_;
  };
  Index n_;
};

CeresTrainerOptions Options(CeresTrainerOptions::Method method, int max_iterations = 100) {
  CeresTrainerOptions o;
  o.method = method;
  o.max_iterations = max_iterations;
  o.verbose = std::getenv("CERES_TRAINER_VERBOSE") != nullptr;  // Ceres progress, for debugging
  return o;
}

std::string MethodName(CeresTrainerOptions::Method m) {
  return m == CeresTrainerOptions::Method::kLevenbergMarquardt ? "LM" : "L-BFGS";
}

}  // namespace

TEST_CASE("ceres trainer: LM and L-BFGS train a 4-layer ALISTA (8 scalars)") {
  const AlistaProblem p = MakeProblem(200);
  for (const auto method : {CeresTrainerOptions::Method::kLevenbergMarquardt, CeresTrainerOptions::Method::kLbfgs}) {
    CAPTURE(MethodName(method));
    auto net = MakeAlista(p);
    REQUIRE(net->parameters().size() == 8);
    const double untrained_db = TestNmseDb(*net, p);
    const double untrained_loss = TrainingSetLoss(*net, p.b_train, p.x_train);
    const CeresTrainerSummary s = TrainWithCeres(*net, p.b_train, p.x_train, Options(method));
    const double trained_db = TestNmseDb(*net, p);
    MESSAGE(MethodName(method) << ": " << s.BriefReport() << "; test NMSE " << untrained_db << " -> "
                               << trained_db << " dB");
    INFO(s.BriefReport());
    CHECK(s.usable);
    CHECK(s.initial_loss == doctest::Approx(untrained_loss).epsilon(1e-12));
    CHECK(s.final_loss < 0.5 * s.initial_loss);
    CHECK(s.final_loss == doctest::Approx(TrainingSetLoss(*net, p.b_train, p.x_train)).epsilon(1e-12));
    CHECK(trained_db < untrained_db - 3.0);
    CHECK(net->parameters().Flat().allFinite());
    CHECK(s.iterations >= 1);
    // Traces: one entry per callback, entry 0 the start, non-increasing (both
    // methods are monotone), the model's final loss no worse than the last.
    REQUIRE(!s.loss_trace.empty());
    CHECK(s.loss_trace.size() == s.time_trace.size());
    CHECK(s.metric_trace.empty());
    CHECK(s.loss_trace.front() == doctest::Approx(s.initial_loss).epsilon(1e-10));
    for (size_t i = 1; i < s.loss_trace.size(); ++i) CHECK(s.loss_trace[i] <= s.loss_trace[i - 1] * (1 + 1e-12));
    CHECK(s.final_loss <= s.loss_trace.back() * (1 + 1e-10));
    CHECK(!s.ceres_report.empty());
  }
}

TEST_CASE("ceres trainer: the L-BFGS gradient (VjpParams of the residual) matches finite differences") {
  const AlistaProblem p = MakeProblem(50);
  auto net = MakeAlista(p);
  // Away from the uniform initialisation, so every layer's parameters differ.
  Eigen::Map<Eigen::VectorXd> theta = net->parameters().Flat();
  for (Index k = 0; k < theta.size(); ++k) theta(k) *= 1.0 + 0.15 * static_cast<double>(k);
  const Eigen::VectorXd point = theta;

  TrainingSetGradientFunction function(*net, p.b_train, p.x_train);
  REQUIRE(function.NumParameters() == 8);
  double cost = 0.0;
  Eigen::VectorXd gradient(8);
  REQUIRE(function.Evaluate(point.data(), &cost, gradient.data()));
  CHECK(cost == doctest::Approx(TrainingSetLoss(*net, p.b_train, p.x_train)).epsilon(1e-12));
  double cost_only = 0.0;
  REQUIRE(function.Evaluate(point.data(), &cost_only, nullptr));
  CHECK(cost_only == doctest::Approx(cost).epsilon(1e-14));

  GradientCheckOptions check_options;
  check_options.step = 1e-7;  // small: the soft threshold's kinks are then almost never crossed
  const GradientCheckResult check = CheckGradient(
      "ceres L-BFGS gradient",
      [&](const Eigen::VectorXd& v) {
        double c = 0.0;
        REQUIRE(function.Evaluate(v.data(), &c, nullptr));
        return c;
      },
      point, gradient, check_options);
  MESSAGE(check.Report());
  CHECK(check.passed);
}

TEST_CASE("ceres trainer: the LM Jacobian by perturbation gives J^T r == the VJP gradient") {
  const AlistaProblem p = MakeProblem(200);
  auto net = MakeAlista(p);
  Eigen::Map<Eigen::VectorXd> theta = net->parameters().Flat();
  for (Index k = 0; k < theta.size(); ++k) theta(k) *= 1.0 + 0.1 * static_cast<double>(k % 3);
  const Eigen::VectorXd point = theta;
  const Index r = p.x_train.size(), np = point.size();

  TrainingSetCostFunction cost_function(*net, p.b_train, p.x_train, 1e-6);
  REQUIRE(cost_function.num_residuals() == r);
  REQUIRE(cost_function.parameter_block_sizes().size() == 1);
  REQUIRE(cost_function.parameter_block_sizes()[0] == np);

  Eigen::VectorXd residuals(r);
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> jacobian(r, np);
  const double* parameters[] = {point.data()};
  double* jacobians[] = {jacobian.data()};
  REQUIRE(cost_function.Evaluate(parameters, residuals.data(), jacobians));
  // Residuals: vec(f(0; X) - T), column-major.
  Eigen::MatrixXd out(40, p.b_train.cols());
  net->Forward(Eigen::MatrixXd::Zero(40, p.b_train.cols()), p.b_train, out);
  CHECK((residuals - (out - p.x_train).reshaped()).norm() <= 1e-14 * residuals.norm());
  // The model holds the evaluated point (perturbations undone exactly).
  CHECK(net->parameters().Flat() == point);
  // Residuals only (no Jacobian requested) are the same numbers.
  Eigen::VectorXd residuals_only(r);
  REQUIRE(cost_function.Evaluate(parameters, residuals_only.data(), nullptr));
  CHECK(residuals_only == residuals);

  TrainingSetGradientFunction function(*net, p.b_train, p.x_train);
  double cost = 0.0;
  Eigen::VectorXd gradient(np);
  REQUIRE(function.Evaluate(point.data(), &cost, gradient.data()));
  CHECK(0.5 * residuals.squaredNorm() == doctest::Approx(cost).epsilon(1e-12));
  const Eigen::VectorXd jtr = jacobian.transpose() * residuals;
  const double relative = (jtr - gradient).norm() / gradient.norm();
  INFO("J^T r = " << jtr.transpose() << "\ngradient = " << gradient.transpose() << "\nrelative error "
                  << relative);
  MESSAGE("LM Jacobian: ||J^T r - VJP gradient|| / ||gradient|| = " << relative);
  CHECK(relative <= 1e-5);
  // Entry-wise too (every parameter matters here).
  for (Index i = 0; i < np; ++i) {
    CAPTURE(i);
    CHECK(std::abs(jtr(i) - gradient(i)) <= 1e-5 * gradient.cwiseAbs().maxCoeff());
  }
}

TEST_CASE("ceres trainer: non-finite model outputs are rejected, never propagated") {
  Rng rng(5);
  const Eigen::MatrixXd x = StandardGaussianMatrix<double>(6, 30, rng);
  const Eigen::MatrixXd t = 2.0 * x;  // optimum p = 2 lies in the NaN region p > 1.5

  SUBCASE("the cost functions return false in the NaN region") {
    CappedScale model(6, 0.5);
    TrainingSetCostFunction cost_function(model, x, t, 1e-6);
    TrainingSetGradientFunction function(model, x, t);
    Eigen::VectorXd residuals(x.size());
    Eigen::VectorXd jacobian(x.size());
    double* jacobians[] = {jacobian.data()};
    const double bad = 2.0;
    const double* bad_parameters[] = {&bad};
    CHECK_FALSE(cost_function.Evaluate(bad_parameters, residuals.data(), nullptr));
    CHECK_FALSE(cost_function.Evaluate(bad_parameters, residuals.data(), jacobians));
    double cost = 0.0, grad = 0.0;
    CHECK_FALSE(function.Evaluate(&bad, &cost, nullptr));
    CHECK_FALSE(function.Evaluate(&bad, &cost, &grad));
    // Just below the cap: +h is NaN, so the column falls back to the
    // one-sided difference; the model is linear in p, so it is exact.
    const double edge = CappedScale::kCap - 1e-7;
    const double* edge_parameters[] = {&edge};
    REQUIRE(cost_function.Evaluate(edge_parameters, residuals.data(), jacobians));
    CHECK((jacobian - x.reshaped()).norm() <= 1e-6 * x.norm());
    CHECK(jacobian.allFinite());
  }

  for (const auto method : {CeresTrainerOptions::Method::kLevenbergMarquardt, CeresTrainerOptions::Method::kLbfgs}) {
    CAPTURE(MethodName(method));
    CappedScale model(6, 0.5);
    const CeresTrainerSummary s = TrainWithCeres(model, x, t, Options(method, 50));
    MESSAGE(MethodName(method) << " on the capped model: " << s.BriefReport() << ", p = "
                               << model.parameters().Flat()(0));
    const double p_final = model.parameters().Flat()(0);
    CHECK(std::isfinite(p_final));
    CHECK(p_final <= CappedScale::kCap);
    CHECK(p_final > 1.0);  // moved towards the cap
    CHECK(std::isfinite(s.final_loss));
    CHECK(s.final_loss < s.initial_loss);
    for (double v : s.loss_trace) CHECK(std::isfinite(v));
  }
}

TEST_CASE("ceres trainer: the metric callback sees the current iterate and stop_when stops early") {
  const AlistaProblem p = MakeProblem(200);
  for (const auto method : {CeresTrainerOptions::Method::kLevenbergMarquardt, CeresTrainerOptions::Method::kLbfgs}) {
    CAPTURE(MethodName(method));
    auto net = MakeAlista(p);
    const double untrained_db = TestNmseDb(*net, p);
    const double goal_db = untrained_db - 1.0;
    CeresTrainerOptions options = Options(method, 100);
    int metric_calls = 0;
    options.metric = [&] {
      ++metric_calls;
      return TestNmseDb(*net, p);
    };
    options.stop_when = [&](double nmse_db) { return nmse_db < goal_db; };
    const CeresTrainerSummary s = TrainWithCeres(*net, p.b_train, p.x_train, options);
    MESSAGE(MethodName(method) << " with stop_when: " << s.BriefReport());
    INFO(s.BriefReport());
    CHECK(s.termination == "USER_SUCCESS");
    CHECK(s.usable);
    CHECK(s.iterations < options.max_iterations);
    REQUIRE(s.metric_trace.size() == s.loss_trace.size());
    CHECK(static_cast<int>(s.metric_trace.size()) == metric_calls);
    CHECK(s.metric_trace.front() == doctest::Approx(untrained_db).epsilon(1e-12));  // iteration 0
    CHECK(s.metric_trace.back() < goal_db);
    for (size_t i = 0; i + 1 < s.metric_trace.size(); ++i) CHECK(s.metric_trace[i] >= goal_db);
    // The model holds the iterate that satisfied stop_when.
    CHECK(TestNmseDb(*net, p) == doctest::Approx(s.metric_trace.back()).epsilon(1e-12));
    CHECK(s.final_loss == doctest::Approx(s.loss_trace.back()).epsilon(1e-10));
  }
}

TEST_CASE("ceres trainer: LM with several Ceres threads gives the same result") {
  const AlistaProblem p = MakeProblem(50);
  auto one = MakeAlista(p), two = MakeAlista(p);
  CeresTrainerOptions options = Options(CeresTrainerOptions::Method::kLevenbergMarquardt, 10);
  const CeresTrainerSummary s1 = TrainWithCeres(*one, p.b_train, p.x_train, options);
  options.threads = 2;
  const CeresTrainerSummary s2 = TrainWithCeres(*two, p.b_train, p.x_train, options);
  INFO(s1.BriefReport() << "\n" << s2.BriefReport());
  CHECK(s2.usable);
  CHECK(s2.iterations == s1.iterations);
  CHECK(s2.final_loss == doctest::Approx(s1.final_loss).epsilon(1e-12));
  CHECK((one->parameters().Flat() - two->parameters().Flat()).norm() <=
        1e-12 * one->parameters().Flat().norm());
}

TEST_CASE("ceres trainer: an exception from the metric propagates, parameters stay finite") {
  const AlistaProblem p = MakeProblem(50);
  auto net = MakeAlista(p);
  CeresTrainerOptions options = Options(CeresTrainerOptions::Method::kLevenbergMarquardt, 20);
  int calls = 0;
  options.metric = [&]() -> double {
    if (++calls == 3) throw Error("metric failed on purpose");
    return 0.0;
  };
  CHECK_THROWS_WITH_AS(TrainWithCeres(*net, p.b_train, p.x_train, options), "metric failed on purpose", Error);
  CHECK(net->parameters().Flat().allFinite());
}

TEST_CASE("ceres trainer: invalid options and inputs give clear errors") {
  auto expect_invalid = [](const CeresTrainerOptions& o, const std::string& field) {
    std::string error;
    CHECK_FALSE(o.IsValid(&error));
    CAPTURE(error);
    CHECK(error.find(field) != std::string::npos);
    CHECK_FALSE(o.IsValid(nullptr));
  };
  CeresTrainerOptions o;
  std::string error;
  CHECK(o.IsValid(&error));
  o.max_iterations = 0;
  expect_invalid(o, "max_iterations");
  o = {};
  o.function_tolerance = -1.0;
  expect_invalid(o, "function_tolerance");
  o = {};
  o.gradient_tolerance = std::numeric_limits<double>::quiet_NaN();
  expect_invalid(o, "gradient_tolerance");
  o = {};
  o.parameter_tolerance = std::numeric_limits<double>::infinity();
  expect_invalid(o, "parameter_tolerance");
  o = {};
  o.jacobian_step = 0.0;
  expect_invalid(o, "jacobian_step");
  o.jacobian_step = 0.5;
  expect_invalid(o, "jacobian_step");
  o = {};
  o.threads = 0;
  expect_invalid(o, "threads");
  o = {};
  o.stop_when = [](double) { return true; };
  expect_invalid(o, "stop_when");
  o.metric = [] { return 0.0; };
  CHECK(o.IsValid(nullptr));

  CHECK(ParseCeresTrainerMethod("lm") == CeresTrainerOptions::Method::kLevenbergMarquardt);
  CHECK(ParseCeresTrainerMethod("lbfgs") == CeresTrainerOptions::Method::kLbfgs);
  CHECK_THROWS_WITH_AS(ParseCeresTrainerMethod("adam"), doctest::Contains("unknown Ceres trainer method"), Error);

  const AlistaProblem p = MakeProblem(20);
  auto net = MakeAlista(p, 2);
  CeresTrainerOptions bad;
  bad.threads = -2;
  CHECK_THROWS_WITH_AS(TrainWithCeres(*net, p.b_train, p.x_train, bad), doctest::Contains("threads must be >= 1"),
                       Error);
  const CeresTrainerOptions good;
  CHECK_THROWS_WITH_AS(TrainWithCeres(*net, p.x_train, p.x_train, good), doctest::Contains("input_dim"), Error);
  CHECK_THROWS_WITH_AS(TrainWithCeres(*net, p.b_train, p.b_train, good), doctest::Contains("state_dim"), Error);
  CHECK_THROWS_WITH_AS(TrainWithCeres(*net, p.b_train, p.x_train.leftCols(10), good),
                       doctest::Contains("targets"), Error);
  CHECK_THROWS_WITH_AS(TrainWithCeres(*net, p.b_train.leftCols(0), p.x_train.leftCols(0), good),
                       doctest::Contains("empty"), Error);
  Eigen::MatrixXd nan_targets = p.x_train;
  nan_targets(3, 4) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(TrainWithCeres(*net, p.b_train, nan_targets, good), doctest::Contains("non-finite"), Error);
  IstaStep<double> no_parameters(*p.a, 0.1, p.lipschitz);
  CHECK_THROWS_WITH_AS(TrainWithCeres(no_parameters, p.b_train, p.x_train, good),
                       doctest::Contains("no parameters"), Error);
  CappedScale blown_up(40, 3.0);  // NaN output at the start: nothing to descend from
  Eigen::MatrixXd x40 = p.x_train;
  CHECK_THROWS_WITH_AS(TrainWithCeres(blown_up, x40, x40, good), doctest::Contains("not finite"), Error);
}
