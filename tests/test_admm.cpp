// ADMM layer (unfolding/admm.hpp): VJPs against finite differences (with and
// without learned over-relaxation, alone and in a tied network), the cached
// eigendecomposition solve against a direct Cholesky solve, one layer against
// the textbook ADMM step, convergence of a long tied network to the LASSO
// solution (KKT conditions, agreement with FISTA), and shape errors.
#include "core/data.hpp"
#include "core/gradient_check.hpp"
#include "unfolding/admm.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/unrolled_network.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace implicit;
using implicit::test::RandomMatrix;
using implicit::test::RequirePassed;
using implicit::test::CheckKkt;


namespace {

// Fraction of the soft threshold's inputs v that are above the threshold. The
// layer's output gives v back: u+ = v - z+, so v = z+ + u+.
double ActiveFraction(const AdmmLayer<double>& layer, const Eigen::MatrixXd& state, const Eigen::MatrixXd& b) {
  Eigen::MatrixXd out(layer.state_dim(), state.cols());
  layer.Forward(state, b, out);
  const Index n = layer.signal_dim();
  return static_cast<double>((out.topRows(n).array() != 0.0).count()) / static_cast<double>(n * state.cols());
}

}  // namespace

TEST_CASE("ADMM layer VJPs (state [z; u], input b, rho, theta, alpha)") {
  Rng rng(101);
  struct Case {
    Index m, n, batch;
    bool learn_relaxation;
  };
  for (const Case& c : {Case{5, 8, 4, false}, Case{5, 8, 4, true}, Case{6, 6, 3, true}, Case{7, 5, 3, false},
                        Case{4, 10, 3, true}}) {
    CAPTURE(c.m);
    CAPTURE(c.n);
    CAPTURE(c.learn_relaxation);
    const Eigen::MatrixXd a = RandomMatrix(c.m, c.n, rng, 1.0 / std::sqrt(static_cast<double>(c.m)));
    auto factorization = AdmmLayer<double>::Factorize(a);
    AdmmLayer<double> layer(factorization, 0.7, 0.5, c.learn_relaxation ? 1.4 : 1.0,
                            AdmmLayerConfig{c.learn_relaxation});
    CHECK(layer.name() == "admm_layer");
    CHECK(layer.state_dim() == 2 * c.n);
    CHECK(layer.input_dim() == c.m);
    CHECK(layer.parameters().size() == (c.learn_relaxation ? 3 : 2));
    const Eigen::MatrixXd state = RandomMatrix(2 * c.n, c.batch, rng);  // z and u random
    const Eigen::MatrixXd b = RandomMatrix(c.m, c.batch, rng);
    // Both sides of the soft threshold must be exercised.
    const double active = ActiveFraction(layer, state, b);
    CAPTURE(active);
    CHECK(active > 0.2);
    CHECK(active < 0.9);
    RequirePassed(CheckOperatorGradients(layer, state, b));
  }
}

TEST_CASE("tied network of ADMM layers: whole-network VJPs") {
  Rng rng(103);
  const Eigen::MatrixXd a = RandomMatrix(5, 9, rng, 1.0 / std::sqrt(5.0));
  auto layer = std::make_unique<AdmmLayer<double>>(AdmmLayer<double>::Factorize(a), 1.3, 0.1, 1.5,
                                                   AdmmLayerConfig{true});
  UnrolledNetwork<double> net(std::move(layer), 4);
  CHECK(net.parameters().size() == 3);
  CHECK(net.parameters().Find("alpha") >= 0);
  RequirePassed(CheckOperatorGradients(net, 0.5 * RandomMatrix(18, 3, rng), RandomMatrix(5, 3, rng)));
}

TEST_CASE("cached eigendecomposition solve equals a direct Cholesky solve of (A^T A + rho I)") {
  Rng rng(107);
  for (const auto& [m, n] : {std::pair<Index, Index>{12, 20}, std::pair<Index, Index>{15, 10}}) {
    CAPTURE(m);
    const Eigen::MatrixXd a = RandomMatrix(m, n, rng, 1.0 / std::sqrt(static_cast<double>(m)));
    auto factorization = AdmmLayer<double>::Factorize(a);
    const Eigen::MatrixXd y = RandomMatrix(n, 4, rng);
    for (double rho : {0.05, 3.0}) {
      CAPTURE(rho);
      const Eigen::MatrixXd system = a.transpose() * a + rho * Eigen::MatrixXd::Identity(n, n);
      const Eigen::MatrixXd direct = system.llt().solve(y);
      Eigen::MatrixXd cached(n, 4);
      factorization->Solve(rho, y, cached);
      const double error = (cached - direct).cwiseAbs().maxCoeff() / direct.cwiseAbs().maxCoeff();
      CAPTURE(error);
      CHECK(error <= 1e-10);
    }
    Eigen::MatrixXd out(n, 4);
    CHECK_THROWS_AS(factorization->Solve(0.0, y, out), Error);
    CHECK_THROWS_AS(factorization->Solve(-1.0, y, out), Error);
  }
}

TEST_CASE("one ADMM layer is the textbook relaxed ADMM step (Boyd et al. Sec. 6.4, 3.4.3)") {
  Rng rng(109);
  const Index m = 6, n = 10, batch = 3;
  const Eigen::MatrixXd a = RandomMatrix(m, n, rng, 1.0 / std::sqrt(6.0));
  const double rho = 0.8, theta = 0.2, alpha = 1.6;
  AdmmLayer<double> layer(AdmmLayer<double>::Factorize(a), rho, theta, alpha, AdmmLayerConfig{true});
  const Eigen::MatrixXd z = RandomMatrix(n, batch, rng), u = RandomMatrix(n, batch, rng);
  const Eigen::MatrixXd b = RandomMatrix(m, batch, rng);
  Eigen::MatrixXd state(2 * n, batch);
  state << z, u;

  const Eigen::MatrixXd system = a.transpose() * a + rho * Eigen::MatrixXd::Identity(n, n);
  const Eigen::MatrixXd x = system.llt().solve(a.transpose() * b + rho * (z - u));
  const Eigen::MatrixXd xh = alpha * x + (1.0 - alpha) * z;
  const Eigen::MatrixXd v = xh + u;
  const Eigen::MatrixXd z_next = v.array().sign() * (v.array().abs() - theta).max(0.0);
  const Eigen::MatrixXd u_next = u + xh - z_next;

  Eigen::MatrixXd out(2 * n, batch);
  layer.Forward(state, b, out);
  CHECK((out.topRows(n) - z_next).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK((out.bottomRows(n) - u_next).cwiseAbs().maxCoeff() <= 1e-12);
  // Linearize's value is Forward's, bit for bit.
  CHECK(layer.Linearize(state, b)->Value() == out);

  // float instantiation: the same step to float rounding.
  AdmmLayer<float> layer_f(AdmmLayer<float>::Factorize(a.cast<float>()), rho, theta, alpha, AdmmLayerConfig{true});
  Eigen::MatrixXf out_f(2 * n, batch);
  layer_f.Forward(state.cast<float>(), b.cast<float>(), out_f);
  CHECK((out_f.cast<double>() - out).cwiseAbs().maxCoeff() <= 1e-4);
}

TEST_CASE("tied ADMM network with fixed rho, theta = lambda / rho reaches the LASSO solution") {
  Rng rng(113);
  const Index m = 20, n = 40, batch = 4;
  const Eigen::MatrixXd a = GaussianMeasurementMatrix<double>(m, n, rng);
  const Eigen::MatrixXd x_true = BernoulliGaussian<double>(n, batch, 0.1, rng);
  Eigen::MatrixXd b = a * x_true;
  AddGaussianNoise<double>(b, 0.01, rng);
  const double lambda = 0.05, rho = 1.0;

  UnrolledNetwork<double> net(AdmmLayer<double>::ForLasso(AdmmLayer<double>::Factorize(a), lambda, rho), 3000);
  const auto& layer = static_cast<const AdmmLayer<double>&>(net.layer(0));
  CHECK(layer.theta() * layer.rho() == doctest::Approx(lambda));
  CHECK(layer.alpha() == 1.0);
  Eigen::MatrixXd out(2 * n, batch);
  net.Forward(Eigen::MatrixXd::Zero(2 * n, batch), b, out);
  const Eigen::MatrixXd z = out.topRows(n);
  CheckKkt(a, b, z, lambda);
  CHECK((z.array() != 0.0).count() > 0);
  // Dual variable at the fixed point: u = A^T (b - A z) / rho.
  CHECK((out.bottomRows(n) - a.transpose() * (b - a * z) / rho).cwiseAbs().maxCoeff() <= 1e-8);

  LassoSolverOptions options;
  options.method = LassoSolverOptions::Method::kFista;
  options.lambda = lambda;
  options.max_iterations = 20000;
  options.tolerance = 1e-13;
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(n, batch);
  const LassoSolverSummary summary = SolveLasso<double>(a, b, options, x);
  INFO(summary.BriefReport());
  const double difference = (z - x).cwiseAbs().maxCoeff();
  CAPTURE(difference);
  CHECK(difference <= 1e-6);
}

TEST_CASE("ADMM layer rejects bad shapes and bad parameters") {
  Rng rng(127);
  const Index m = 4, n = 6;
  const Eigen::MatrixXd a = RandomMatrix(m, n, rng);
  auto factorization = AdmmLayer<double>::Factorize(a);
  AdmmLayer<double> layer(factorization, 1.0, 0.1);
  Eigen::MatrixXd out(2 * n, 2);
  // The state is [z; u] (2n rows), not z alone.
  CHECK_THROWS_AS(layer.Forward(Eigen::MatrixXd::Zero(n, 2), Eigen::MatrixXd::Zero(m, 2), out), Error);
  CHECK_THROWS_AS(layer.Forward(Eigen::MatrixXd::Zero(2 * n, 2), Eigen::MatrixXd::Zero(m + 1, 2), out), Error);
  CHECK_THROWS_AS(layer.Forward(Eigen::MatrixXd::Zero(2 * n, 2), Eigen::MatrixXd::Zero(m, 3), out), Error);
  Eigen::MatrixXd wrong_out(n, 2);
  CHECK_THROWS_AS(layer.Forward(Eigen::MatrixXd::Zero(2 * n, 2), Eigen::MatrixXd::Zero(m, 2), wrong_out), Error);
  CHECK_THROWS_AS(layer.Linearize(Eigen::MatrixXd::Zero(2 * n, 2), Eigen::MatrixXd::Zero(m - 1, 2)), Error);

  auto lin = layer.Linearize(Eigen::MatrixXd::Ones(2 * n, 2), Eigen::MatrixXd::Ones(m, 2));
  Eigen::MatrixXd grad_state(2 * n, 2), grad_input = Eigen::MatrixXd::Zero(m, 2);
  Eigen::VectorXd grad_params = Eigen::VectorXd::Zero(2);
  CHECK_THROWS_AS(lin->VjpState(Eigen::MatrixXd::Ones(n, 2), grad_state), Error);
  Eigen::MatrixXd wrong_grad_state(n, 2);
  CHECK_THROWS_AS(lin->VjpState(Eigen::MatrixXd::Ones(2 * n, 2), wrong_grad_state), Error);
  Eigen::MatrixXd wrong_grad_input(m + 1, 2);
  CHECK_THROWS_AS(lin->VjpInput(Eigen::MatrixXd::Ones(2 * n, 2), wrong_grad_input), Error);
  Eigen::VectorXd wrong_params = Eigen::VectorXd::Zero(3);
  CHECK_THROWS_AS(lin->VjpParams(Eigen::MatrixXd::Ones(2 * n, 2), wrong_params), Error);
  CHECK_NOTHROW(lin->VjpParams(Eigen::MatrixXd::Ones(2 * n, 2), grad_params));

  CHECK_THROWS_AS(AdmmLayer<double>(nullptr, 1.0, 0.1), Error);
  CHECK_THROWS_AS(AdmmLayer<double>(factorization, 0.0, 0.1), Error);
  CHECK_THROWS_AS(AdmmLayer<double>(factorization, 1.0, -0.1), Error);
  CHECK_THROWS_AS(AdmmLayer<double>(factorization, 1.0, 0.1, 2.5, AdmmLayerConfig{true}), Error);
  CHECK_THROWS_AS(AdmmLayer<double>(factorization, 1.0, 0.1, 1.5), Error);  // alpha needs learn_relaxation
  Eigen::MatrixXd nan_a = a;
  nan_a(1, 2) = std::nan("");
  CHECK_THROWS_AS(AdmmLayer<double>::Factorize(nan_a), Error);
  CHECK_THROWS_AS(AdmmLayer<double>::Factorize(Eigen::MatrixXd(0, 3)), Error);

  // rho is learned as log(rho): any value of the block is a valid rho > 0;
  // a non-finite one (a diverged optimiser) is reported, not silently used.
  layer.parameters().Block(layer.parameters().Find("log_rho"))(0, 0) = -0.5;
  CHECK(layer.rho() == doctest::Approx(std::exp(-0.5)));
  layer.parameters().Block(layer.parameters().Find("log_rho"))(0, 0) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(layer.Forward(Eigen::MatrixXd::Zero(2 * n, 2), Eigen::MatrixXd::Zero(m, 2), out), Error);
}
