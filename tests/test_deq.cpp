// DEQ: fixed-point solvers on problems with known answers, error handling,
// and the implicit backward against finite differences and full unrolling.
#include "core/data.hpp"
#include "core/gradient_check.hpp"
#include "deq/deq_model.hpp"
#include "deq/fixed_point.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/prox_gradient.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <limits>

using namespace implicit;
using implicit::test::RandomMatrix;


namespace {

// The sparse-recovery DEQ cell with ISTA's weights (a known-stable start).
struct SparseProblem {
  std::shared_ptr<const Eigen::MatrixXd> a;
  Eigen::MatrixXd x, b;
  double lipschitz = 0.0;
};

SparseProblem MakeSparseProblem(Index m, Index n, Index batch, std::uint64_t seed) {
  Rng rng(seed);
  SparseProblem p;
  p.a = std::make_shared<const Eigen::MatrixXd>(GaussianMeasurementMatrix<double>(m, n, rng));
  p.x = BernoulliGaussian<double>(n, batch, 0.1, rng);
  p.b = *p.a * p.x;
  p.lipschitz = EstimateLipschitz<double>(*p.a);
  return p;
}

std::unique_ptr<ProxGradientLayer<double>> MakeCell(const SparseProblem& p, double lambda = 0.05) {
  return std::make_unique<ProxGradientLayer<double>>(p.a, p.a->transpose(), 1.0 / p.lipschitz, lambda / p.lipschitz);
}

DeqOptions TightOptions(DeqBackward mode) {
  DeqOptions o;
  o.backward = mode;
  o.forward.max_iterations = 5000;
  o.forward.relative_tolerance = 1e-14;
  o.adjoint.max_iterations = 5000;
  o.adjoint.relative_tolerance = 1e-14;
  return o;
}

double Cosine(const Eigen::VectorXd& a, const Eigen::VectorXd& b) { return a.dot(b) / (a.norm() * b.norm()); }

}  // namespace

TEST_CASE("fixed-point solvers find the known fixed point of an affine contraction") {
  // z = M z + c with M symmetric, eigenvalues in [0, 0.95]  =>  z* = (I - M)^-1 c.
  Rng rng(1);
  const Index n = 12, batch = 5;
  const Eigen::MatrixXd q = RandomMatrix(n, n, rng).householderQr().householderQ();
  const Eigen::MatrixXd m = q * Eigen::VectorXd::LinSpaced(n, 0.0, 0.95).asDiagonal() * q.transpose();
  const Eigen::MatrixXd c = RandomMatrix(n, batch, rng);
  const Eigen::MatrixXd expected = (Eigen::MatrixXd::Identity(n, n) - m).lu().solve(c);
  const BatchMap<double> map = [&](ConstMatRef<double> z, MatRef<double> fz) { fz.noalias() = m * z; fz += c; };
  int plain_median = 0;
  for (auto method : {FixedPointOptions::Method::kFixedPoint, FixedPointOptions::Method::kAnderson}) {
    CAPTURE(static_cast<int>(method));
    FixedPointOptions o;
    o.method = method;
    o.max_iterations = 2000;
    o.relative_tolerance = 1e-12;
    Eigen::MatrixXd z = Eigen::MatrixXd::Zero(n, batch);
    const FixedPointSummary s = SolveFixedPoint<double>(map, z, o);
    INFO(s.BriefReport());
    CHECK(s.termination == FixedPointSummary::Termination::kConverged);
    CHECK(s.num_converged() == batch);
    CHECK((z - expected).norm() / expected.norm() < 1e-10);
    CHECK(s.trace_length() == s.iterations);
    CHECK(s.trace_width == batch);
    CHECK(s.trace(s.iterations - 1, 0) < 1e-12f);
    if (method == FixedPointOptions::Method::kFixedPoint) {
      plain_median = static_cast<int>(s.median_sample_iterations());
    } else {
      // On an affine map Anderson is GMRES-like: far fewer iterations.
      CHECK(s.median_sample_iterations() * 3 < plain_median);
    }
  }
}

TEST_CASE("fixed-point solver: bad settings and bad input are clear errors") {
  const BatchMap<double> id = [](ConstMatRef<double> z, MatRef<double> fz) { fz = z; };
  Eigen::MatrixXd z = Eigen::MatrixXd::Zero(3, 2);
  FixedPointOptions o;
  std::string error;
  o.relative_tolerance = -1.0;
  CHECK_FALSE(o.IsValid(&error));
  CHECK(error.find("relative_tolerance") != std::string::npos);
  CHECK_THROWS_AS(SolveFixedPoint<double>(id, z, o), Error);
  o = FixedPointOptions{};
  o.memory = 0;
  CHECK_FALSE(o.IsValid(&error));
  CHECK(error.find("memory") != std::string::npos);
  o = FixedPointOptions{};
  o.damping = 0.0;
  CHECK_FALSE(o.IsValid(&error));
  z(1, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(SolveFixedPoint<double>(id, z, FixedPointOptions{}), Error);
  CHECK_THROWS_AS(FixedPointOptions::ParseMethod("newton"), Error);
}

TEST_CASE("fixed-point solver: divergence and non-convergence are reported, never hidden") {
  Eigen::MatrixXd z = Eigen::MatrixXd::Ones(4, 3);
  SUBCASE("expanding map: not converged, restarted, lowest-residual iterate returned") {
    const BatchMap<double> expand = [](ConstMatRef<double> v, MatRef<double> fz) { fz = 2.0 * v.array() + 1.0; };
    FixedPointOptions o;
    o.method = FixedPointOptions::Method::kFixedPoint;
    o.max_iterations = 50;
    const FixedPointSummary s = SolveFixedPoint<double>(expand, z, o);
    CHECK(s.termination != FixedPointSummary::Termination::kConverged);
    CHECK(s.num_converged() == 0);
    CHECK(z.allFinite());
    CHECK(s.restarts > 0);
    CHECK_FALSE(s.message.empty());
  }
  SUBCASE("a map that returns NaN: kDiverged, finite iterate returned") {
    int calls = 0;
    const BatchMap<double> broken = [&](ConstMatRef<double> v, MatRef<double> fz) {
      fz = 0.5 * v;
      if (++calls > 3) fz(0, 1) = std::numeric_limits<double>::quiet_NaN();
    };
    const FixedPointSummary s = SolveFixedPoint<double>(broken, z, FixedPointOptions{});
    CHECK(s.termination == FixedPointSummary::Termination::kDiverged);
    CHECK(z.allFinite());
    CHECK(s.BriefReport().find("DIVERGED") != std::string::npos);
  }
}

TEST_CASE("spectral-radius estimate by power iteration on VJPs") {
  // A linear cell f(z) = M z with known eigenvalues: rho = 0.8.
  Rng rng(3);
  const Index n = 8;
  const Eigen::MatrixXd q = RandomMatrix(n, n, rng).householderQr().householderQ();
  Eigen::VectorXd eig = Eigen::VectorXd::LinSpaced(n, 0.1, 0.8);
  const Eigen::MatrixXd m = q * eig.asDiagonal() * q.transpose();
  auto a = std::make_shared<const Eigen::MatrixXd>(Eigen::MatrixXd::Identity(n, n));
  // prox_gradient with theta = 0 and A = I: f(z) = z + gamma W (b - z) = (I - gamma W) z + gamma W b.
  ProxGradientLayer<double> cell(a, Eigen::MatrixXd::Identity(n, n) - m, 1.0, 0.0);
  const auto lin = cell.Linearize(RandomMatrix(n, 2, rng), RandomMatrix(n, 2, rng));
  const double rho = DeqModel<double>::EstimateSpectralRadius(*lin, n, 2, 200);
  CHECK(rho == doctest::Approx(0.8).epsilon(1e-3));
}

TEST_CASE("DEQ forward: converged z* is a fixed point of the cell, and bad input is an error") {
  const SparseProblem p = MakeSparseProblem(15, 30, 4, 7);
  DeqOptions o;
  o.estimate_spectral_radius = true;
  DeqModel<double> deq(MakeCell(p), o);
  Eigen::MatrixXd z(30, 4), fz(30, 4);
  deq.Forward(Eigen::MatrixXd::Zero(30, 4), p.b, z);
  INFO(deq.last_forward_summary().BriefReport());
  CHECK(deq.last_forward_summary().solve.termination == FixedPointSummary::Termination::kConverged);
  deq.cell().Forward(z, p.b, fz);
  CHECK((fz - z).norm() <= 1e-5 * fz.norm());
  CHECK(deq.last_forward_summary().spectral_radius < 1.0);
  CHECK(deq.last_forward_summary().warning.empty());
  Eigen::MatrixXd bad = p.b;
  bad(2, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(deq.Forward(Eigen::MatrixXd::Zero(30, 4), bad, z), Error);
  CHECK_THROWS_AS(deq.Forward(Eigen::MatrixXd::Zero(29, 4), p.b, z), Error);
  DeqOptions invalid;
  invalid.forward.memory = 0;
  CHECK_THROWS_AS(DeqModel<double>(MakeCell(p), invalid), Error);
}

TEST_CASE("DEQ forward: a solve that cannot converge is flagged in the summary") {
  const SparseProblem p = MakeSparseProblem(15, 30, 3, 8);
  DeqOptions o;
  o.forward.max_iterations = 3;
  DeqModel<double> deq(MakeCell(p), o);
  Eigen::MatrixXd z(30, 3);
  deq.Forward(Eigen::MatrixXd::Zero(30, 3), p.b, z);
  CHECK(deq.last_forward_summary().solve.termination == FixedPointSummary::Termination::kMaxIterations);
  CHECK_FALSE(deq.last_forward_summary().warning.empty());
}

TEST_CASE("IFT gradient = finite differences of the loss through a converged solve (double, 1e-5)") {
  const SparseProblem p = MakeSparseProblem(12, 24, 3, 11);
  DeqModel<double> deq(MakeCell(p, 0.02), TightOptions(DeqBackward::kImplicit));
  Rng rng(5);
  const Eigen::MatrixXd g = RandomMatrix(24, 3, rng);  // loss = <g, z*(x, theta)>
  const Eigen::MatrixXd z0 = Eigen::MatrixXd::Zero(24, 3);
  const auto lin = deq.Linearize(z0, p.b);
  INFO(deq.last_forward_summary().BriefReport());
  Eigen::VectorXd grad_params = Eigen::VectorXd::Zero(deq.parameters().size());
  lin->VjpParams(g, grad_params);
  INFO(deq.last_backward_summary().BriefReport());
  CHECK(deq.last_backward_summary().adjoint.termination == FixedPointSummary::Termination::kConverged);
  Eigen::MatrixXd grad_input = Eigen::MatrixXd::Zero(12, 3);
  lin->VjpInput(g, grad_input);

  // The loss goes through an iterative solve (relative residual 1e-14), so
  // the finite differences carry noise ~ solve error / h (~1e-8 here) on
  // EVERY entry. The criterion is the vector-wise relative error
  // ||analytic - numeric|| / ||numeric|| <= 1e-5; entry-wise, entries are
  // judged against 1% of the gradient's scale (still catches any wrong entry
  // that matters).
  GradientCheckOptions fd;
  fd.tolerance = 1e-5;
  fd.relative_floor = 1e-2;
  Eigen::MatrixXd z(24, 3);
  const Eigen::VectorXd theta0 = deq.parameters().Flat();
  auto loss_of_params = [&](const Eigen::VectorXd& params) {
    deq.parameters().Flat() = params;
    deq.Forward(z0, p.b, z);
    return (g.array() * z.array()).sum();
  };
  const GradientCheckResult params_check = CheckGradient("deq d/dtheta", loss_of_params, theta0, grad_params, fd);
  deq.parameters().Flat() = theta0;
  INFO(params_check.Report());
  CHECK(params_check.passed);
  CHECK(params_check.norm_relative_error <= 1e-5);
  auto loss_of_input = [&](const Eigen::VectorXd& b) {
    deq.Forward(z0, Eigen::Map<const Eigen::MatrixXd>(b.data(), 12, 3), z);
    return (g.array() * z.array()).sum();
  };
  const GradientCheckResult input_check = CheckGradient(
      "deq d/db", loss_of_input, Eigen::Map<const Eigen::VectorXd>(p.b.data(), p.b.size()),
      Eigen::Map<const Eigen::VectorXd>(grad_input.data(), grad_input.size()), fd);
  INFO(input_check.Report());
  CHECK(input_check.passed);
  CHECK(input_check.norm_relative_error <= 1e-5);
  // d z*/d z0 = 0 for a unique fixed point; the implementation assigns it.
  Eigen::MatrixXd grad_state = Eigen::MatrixXd::Constant(24, 3, 1.0);
  lin->VjpState(g, grad_state);
  CHECK(grad_state.isZero(0.0));
}

TEST_CASE("IFT gradient = full backprop through a long converged unrolled solve (double, 1e-5)") {
  const SparseProblem p = MakeSparseProblem(12, 24, 3, 13);
  Rng rng(6);
  const Eigen::MatrixXd g = RandomMatrix(24, 3, rng);
  const Eigen::MatrixXd z0 = Eigen::MatrixXd::Zero(24, 3);
  auto gradient = [&](DeqBackward mode, int iterations = 5000) {
    DeqOptions o = TightOptions(mode);
    o.forward.max_iterations = iterations;
    o.phantom_steps = 2000;  // with damping 1: the Neumann series cut after 2000 terms
    o.phantom_damping = 1.0;
    DeqModel<double> deq(MakeCell(p, 0.02), o);
    const auto lin = deq.Linearize(z0, p.b);
    Eigen::VectorXd grad = Eigen::VectorXd::Zero(deq.parameters().size());
    lin->VjpParams(g, grad);
    return grad;
  };
  const Eigen::VectorXd ift = gradient(DeqBackward::kImplicit);
  const Eigen::VectorXd unrolled = gradient(DeqBackward::kUnrolled, 3000);
  CHECK((ift - unrolled).norm() / ift.norm() < 1e-5);
  // Phantom gradient with many damped steps approaches the IFT gradient;
  // JFB is a cheaper approximation, still a descent-aligned direction here.
  const Eigen::VectorXd phantom = gradient(DeqBackward::kPhantom);
  CHECK((ift - phantom).norm() / ift.norm() < 1e-5);
  const Eigen::VectorXd jfb = gradient(DeqBackward::kJacobianFree);
  CHECK(Cosine(ift, jfb) > 0.0);
  MESSAGE("cosine(IFT, JFB) = " << Cosine(ift, jfb));
}

TEST_CASE("DEQ parameters are the cell's parameters (one flat vector)") {
  const SparseProblem p = MakeSparseProblem(8, 16, 2, 17);
  DeqModel<double> deq(MakeCell(p), DeqOptions{});
  CHECK(deq.parameters().size() == deq.cell().parameters().size());
  deq.parameters().Flat()(deq.parameters().size() - 1) = 0.123;  // theta
  CHECK(static_cast<ProxGradientLayer<double>&>(deq.cell()).theta() == 0.123);
}
