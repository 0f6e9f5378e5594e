// Operators written for equilibrium models (deq/): the monotone operator
// equilibrium cell (Winston & Kolter 2020) and proximal gradient with a
// learned denoiser (Gilton, Ongie, Willett 2021). Finite-difference checks of
// every VJP (double, relative error <= 1e-6, see core/gradient_check.hpp),
// shape errors, the monotone parametrisation's guarantee (I - W >= m I and a
// unique fixed point reached by forward-backward iteration), and the
// denoiser's reduction to a plain gradient step, also inside an
// UnrolledNetwork.
#include "core/gradient_check.hpp"
#include "deq/monotone_cell.hpp"
#include "deq/prox_denoiser.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/unrolled_network.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace implicit;
using implicit::test::RandomMatrix;
using implicit::test::RequirePassed;


namespace {

double ActiveFraction(const Eigen::MatrixXd& m) {
  return static_cast<double>((m.array() > 0.0).count()) / static_cast<double>(m.size());
}

std::unique_ptr<MonotoneCell<double>> MakeMonotoneCell(const MonotoneCellConfig& config, double scale,
                                                       Rng& rng) {
  auto cell = std::make_unique<MonotoneCell<double>>(config);
  cell->InitializeRandom(rng, scale);
  cell->c() = RandomMatrix(config.state_dim, 1, rng, 0.5);  // non-zero bias, exercised by the check
  return cell;
}

// A denoiser with W2 and b1, b2 large enough that the residual branch (and so
// every parameter's gradient) matters, and b1 mixing active/inactive units.
std::unique_ptr<ProxGradientDenoiser<double>> MakeDenoiser(const Eigen::MatrixXd& a,
                                                           const ProxGradientDenoiserConfig& config,
                                                           Rng& rng) {
  const double step = 1.0 / EstimateLipschitz<double>(a);
  auto op = std::make_unique<ProxGradientDenoiser<double>>(a, config, step);
  op->InitializeRandom(rng, 1.0, 0.5);
  op->b1() = RandomMatrix(config.hidden_dim, 1, rng, 0.3);
  op->b2() = RandomMatrix(a.cols(), 1, rng, 0.3);
  return op;
}

}  // namespace

// ------------------------------------------------------------- MonotoneCell

TEST_CASE("monotone cell: blocks and configuration checks") {
  MonotoneCell<double> cell({7, 3, 0.5, 0.1});
  CHECK(cell.name() == "monotone_cell");
  CHECK(cell.state_dim() == 7);
  CHECK(cell.input_dim() == 3);
  const ParameterSet<double>& p = cell.parameters();
  CHECK(p.size() == 7 * 7 + 7 * 7 + 7 * 3 + 7);
  CHECK(p.info(p.Find("B")).rows == 7);
  CHECK(p.info(p.Find("C")).cols == 7);
  CHECK(p.info(p.Find("U")).cols == 3);
  CHECK(p.info(p.Find("c")).cols == 1);

  std::string error;
  CHECK_FALSE(MonotoneCellConfig{0, 3}.IsValid(&error));
  CHECK_FALSE(MonotoneCellConfig{4, 3, 0.0, 0.1}.IsValid(&error));
  CHECK(error.find("monotonicity_m") != std::string::npos);
  CHECK_FALSE(MonotoneCellConfig{4, 3, 0.5, -1.0}.IsValid(&error));
  CHECK(error.find("alpha") != std::string::npos);
  CHECK_THROWS_AS(MonotoneCell<double>(MonotoneCellConfig{4, 3, 0.5, 0.0}), Error);
  CHECK_THROWS_AS(cell.set_alpha(std::numeric_limits<double>::quiet_NaN()), Error);
}

TEST_CASE("monotone cell VJPs (state, input, B, C, U, c)") {
  // The per-entry criterion cannot judge an entry of J^T g that is below
  // ~1e-4 of the largest one (finite-difference rounding is ~1e-10 absolute);
  // this seed's draws have none, so the worst entry error is ~1e-7.
  Rng rng(104);
  struct Case {
    MonotoneCellConfig config;
    double scale;
    Index batch;
  };
  for (const Case& c : {Case{{8, 5, 0.5, 0.1}, 0.3, 4}, Case{{6, 3, 0.2, 0.7}, 0.5, 3},
                        Case{{10, 4, 1.0, 0.3}, 0.2, 5}}) {
    CAPTURE(c.config.state_dim);
    CAPTURE(c.config.alpha);
    auto cell = MakeMonotoneCell(c.config, c.scale, rng);
    const Eigen::MatrixXd z = RandomMatrix(c.config.state_dim, c.batch, rng);
    const Eigen::MatrixXd x = RandomMatrix(c.config.input_dim, c.batch, rng);
    // The check is only meaningful if the relu mask has both kinds of entries.
    const double active = ActiveFraction(cell->Linearize(z, x)->Value());
    CAPTURE(active);
    CHECK(active > 0.2);
    CHECK(active < 0.8);
    RequirePassed(CheckOperatorGradients(*cell, z, x));
  }
}

TEST_CASE("monotone cell: I - W - m I is positive semidefinite for any B, C") {
  Rng rng(7);
  for (double scale : {0.1, 1.0, 3.0}) {
    for (double m : {0.05, 0.5, 1.0}) {
      CAPTURE(scale);
      CAPTURE(m);
      MonotoneCell<double> cell({9, 2, m, 0.1});
      cell.InitializeRandom(rng, scale);
      const Eigen::MatrixXd i_minus_w = Eigen::MatrixXd::Identity(9, 9) - cell.W();
      // C - C^T is skew, so the symmetric part is m I + B^T B.
      const Eigen::MatrixXd sym = 0.5 * (i_minus_w + i_minus_w.transpose());
      const double smallest = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(sym).eigenvalues()(0);
      CAPTURE(smallest);
      CHECK(smallest >= m - 1e-10);
      // ... while W itself is in general not a contraction (||W|| > 1 is allowed).
      if (scale >= 1.0) CHECK(cell.W().operatorNorm() > 1.0);
    }
  }
}

TEST_CASE("monotone cell: forward-backward iteration reaches the unique fixed point") {
  Rng rng(2024);
  const Index n = 10, p = 4, batch = 3;
  const double m = 0.5;
  MonotoneCell<double> cell({n, p, m, 0.1});
  cell.InitializeRandom(rng, 0.2);
  cell.c() = RandomMatrix(n, 1, rng, 0.5);
  const double bound = cell.ContractionAlphaBound();
  const double alpha = 0.9 * bound;
  cell.set_alpha(alpha);
  // The step z -> z - alpha F(z) has Lipschitz constant sqrt(1 - 2 alpha m + alpha^2 L^2).
  const double lipschitz = std::sqrt(2.0 * m / bound);  // L = ||I - W||_2
  const double factor = std::sqrt(1.0 - 2.0 * alpha * m + alpha * alpha * lipschitz * lipschitz);
  CAPTURE(bound);
  CAPTURE(factor);
  CHECK(factor < 1.0);

  const Eigen::MatrixXd x = RandomMatrix(p, batch, rng);
  auto iterate = [&](Eigen::MatrixXd z) {
    Eigen::MatrixXd next(n, batch);
    for (int k = 0; k < 2000; ++k) {
      cell.Forward(z, x, next);
      z.swap(next);
    }
    return z;
  };
  const Eigen::MatrixXd z1 = iterate(RandomMatrix(n, batch, rng, 3.0));
  const Eigen::MatrixXd z2 = iterate(RandomMatrix(n, batch, rng, 3.0));
  Eigen::MatrixXd f1(n, batch);
  cell.Forward(z1, x, f1);
  const double residual = (f1 - z1).norm();
  const double gap = (z1 - z2).norm();
  CAPTURE(residual);
  CAPTURE(gap);
  CHECK(residual < 1e-8);
  CHECK(gap < 1e-8);
  // The FB fixed point is the equilibrium z = relu(W z + U x + c) itself.
  Eigen::MatrixXd pre = cell.W() * z1 + cell.U() * x;
  pre.colwise() += cell.c().col(0);
  CHECK((pre.cwiseMax(0.0) - z1).norm() < 1e-7);
  CHECK(ActiveFraction(z1) > 0.0);  // a non-trivial equilibrium
}

TEST_CASE("monotone cell rejects inputs and gradients of the wrong shape") {
  Rng rng(3);
  auto cell = MakeMonotoneCell({6, 4, 0.5, 0.1}, 0.3, rng);
  Eigen::MatrixXd out(6, 2);
  CHECK_THROWS_AS(cell->Forward(Eigen::MatrixXd::Zero(5, 2), Eigen::MatrixXd::Zero(4, 2), out), Error);
  CHECK_THROWS_AS(cell->Forward(Eigen::MatrixXd::Zero(6, 2), Eigen::MatrixXd::Zero(3, 2), out), Error);
  CHECK_THROWS_AS(cell->Forward(Eigen::MatrixXd::Zero(6, 2), Eigen::MatrixXd::Zero(4, 3), out), Error);
  Eigen::MatrixXd wrong_out(6, 3);
  CHECK_THROWS_AS(cell->Forward(Eigen::MatrixXd::Zero(6, 2), Eigen::MatrixXd::Zero(4, 2), wrong_out),
                  Error);
  CHECK_THROWS_AS(cell->Linearize(Eigen::MatrixXd::Zero(6, 2), Eigen::MatrixXd::Zero(5, 2)), Error);
  auto lin = cell->Linearize(RandomMatrix(6, 2, rng), RandomMatrix(4, 2, rng));
  Eigen::MatrixXd gz(6, 3), gx(4, 3);
  CHECK_THROWS_AS(lin->VjpState(Eigen::MatrixXd::Ones(6, 2), gz), Error);
  CHECK_THROWS_AS(lin->VjpInput(Eigen::MatrixXd::Ones(6, 2), gx), Error);
  Eigen::VectorXd gp = Eigen::VectorXd::Zero(cell->parameters().size() - 1);
  CHECK_THROWS_AS(lin->VjpParams(Eigen::MatrixXd::Ones(6, 2), gp), Error);
}

TEST_CASE("monotone cell in float agrees with double") {
  Rng rng(5);
  auto cell_d = MakeMonotoneCell({7, 3, 0.5, 0.2}, 0.3, rng);
  MonotoneCell<float> cell_f({7, 3, 0.5, 0.2});
  cell_f.parameters().Flat() = cell_d->parameters().Flat().cast<float>();
  const Eigen::MatrixXd z = RandomMatrix(7, 4, rng), x = RandomMatrix(3, 4, rng);
  Eigen::MatrixXd out_d(7, 4);
  Eigen::MatrixXf out_f(7, 4);
  cell_d->Forward(z, x, out_d);
  cell_f.Forward(z.cast<float>(), x.cast<float>(), out_f);
  CHECK((out_f.cast<double>() - out_d).cwiseAbs().maxCoeff() < 1e-5);
  CHECK(std::abs(cell_f.ContractionAlphaBound() - cell_d->ContractionAlphaBound()) <
        1e-4 * cell_d->ContractionAlphaBound());
}

// ----------------------------------------------------- ProxGradientDenoiser

TEST_CASE("prox gradient denoiser: blocks and configuration checks") {
  Rng rng(9);
  const Eigen::MatrixXd a = RandomMatrix(5, 8, rng, 1.0 / std::sqrt(5.0));
  ProxGradientDenoiser<double> learned(a, {6, true}, 0.3);
  CHECK(learned.name() == "prox_gradient_denoiser");
  CHECK(learned.state_dim() == 8);
  CHECK(learned.input_dim() == 5);
  CHECK(learned.parameters().size() == 1 + 6 * 8 + 6 + 8 * 6 + 8);
  CHECK(learned.parameters().Find("eta") == 0);
  CHECK(learned.step() == 0.3);
  ProxGradientDenoiser<double> fixed(a, {6, false}, 0.3);
  CHECK(fixed.parameters().size() == 6 * 8 + 6 + 8 * 6 + 8);
  CHECK_THROWS_AS(fixed.parameters().Find("eta"), Error);
  CHECK(fixed.step() == 0.3);
  fixed.set_step(0.25);
  CHECK(fixed.step() == 0.25);

  CHECK_THROWS_AS(ProxGradientDenoiser<double>(a, {0, true}, 0.3), Error);
  CHECK_THROWS_AS(ProxGradientDenoiser<double>(a, {6, true}, 0.0), Error);
  CHECK_THROWS_AS(ProxGradientDenoiser<double>(Eigen::MatrixXd(0, 3), {6, true}, 0.3), Error);
  Eigen::MatrixXd bad = a;
  bad(1, 1) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(ProxGradientDenoiser<double>(bad, {6, true}, 0.3), Error);
}

TEST_CASE("prox gradient denoiser VJPs (state, input, eta, W1, b1, W2, b2)") {
  Rng rng(17);
  struct Case {
    Index m, n, hidden, batch;
    bool learn_step;
  };
  for (const Case& c : {Case{5, 8, 6, 4, true}, Case{4, 10, 7, 3, false}, Case{6, 6, 9, 3, true}}) {
    CAPTURE(c.n);
    CAPTURE(c.learn_step);
    const Eigen::MatrixXd a = RandomMatrix(c.m, c.n, rng, 1.0 / std::sqrt(static_cast<double>(c.m)));
    auto op = MakeDenoiser(a, {c.hidden, c.learn_step}, rng);
    const Eigen::MatrixXd z = RandomMatrix(c.n, c.batch, rng);
    const Eigen::MatrixXd b = RandomMatrix(c.m, c.batch, rng);
    // Relu mask of the hidden layer must have both active and inactive units.
    Eigen::MatrixXd v = z - op->step() * (a.transpose() * (a * z - b));
    Eigen::MatrixXd hidden = op->W1() * v;
    hidden.colwise() += op->b1().col(0);
    const double active = ActiveFraction(hidden);
    CAPTURE(active);
    CHECK(active > 0.2);
    CHECK(active < 0.8);
    RequirePassed(CheckOperatorGradients(*op, z, b));
  }
}

TEST_CASE("prox gradient denoiser with W2 = 0, b2 = 0 is one gradient step") {
  Rng rng(23);
  const Index m = 6, n = 9, batch = 4;
  const Eigen::MatrixXd a = RandomMatrix(m, n, rng, 1.0 / std::sqrt(6.0));
  auto op = MakeDenoiser(a, {5, true}, rng);
  op->W2().setZero();
  op->b2().setZero();
  const Eigen::MatrixXd z = RandomMatrix(n, batch, rng);
  const Eigen::MatrixXd b = RandomMatrix(m, batch, rng);
  const double eta = op->step();
  const Eigen::MatrixXd expected = z - eta * (a.transpose() * (a * z - b));
  Eigen::MatrixXd out(n, batch);
  op->Forward(z, b, out);
  // Same arithmetic up to the evaluation order of Eigen's products: equal to
  // rounding (a leftover of the denoiser would be O(1)).
  const double diff = (out - expected).cwiseAbs().maxCoeff();
  CAPTURE(diff);
  CHECK(diff <= 1e-14 * std::max(1.0, expected.cwiseAbs().maxCoeff()));
  CHECK(op->Linearize(z, b)->Value() == out);
  // A freshly constructed operator (all blocks zero) is the same gradient step.
  ProxGradientDenoiser<double> fresh(a, {5, false}, eta);
  Eigen::MatrixXd out_fresh(n, batch);
  fresh.Forward(z, b, out_fresh);
  CHECK(out_fresh == out);
}

TEST_CASE("prox gradient denoiser rejects inputs and gradients of the wrong shape") {
  Rng rng(29);
  const Eigen::MatrixXd a = RandomMatrix(4, 7, rng, 0.5);
  auto op = MakeDenoiser(a, {5, true}, rng);
  Eigen::MatrixXd out(7, 2);
  CHECK_THROWS_AS(op->Forward(Eigen::MatrixXd::Zero(6, 2), Eigen::MatrixXd::Zero(4, 2), out), Error);
  CHECK_THROWS_AS(op->Forward(Eigen::MatrixXd::Zero(7, 2), Eigen::MatrixXd::Zero(7, 2), out), Error);
  CHECK_THROWS_AS(op->Forward(Eigen::MatrixXd::Zero(7, 2), Eigen::MatrixXd::Zero(4, 1), out), Error);
  Eigen::MatrixXd wrong_out(4, 2);
  CHECK_THROWS_AS(op->Forward(Eigen::MatrixXd::Zero(7, 2), Eigen::MatrixXd::Zero(4, 2), wrong_out), Error);
  CHECK_THROWS_AS(op->Linearize(Eigen::MatrixXd::Zero(7, 3), Eigen::MatrixXd::Zero(4, 2)), Error);
  auto lin = op->Linearize(RandomMatrix(7, 2, rng), RandomMatrix(4, 2, rng));
  Eigen::MatrixXd gz(7, 2), gb(7, 2);
  CHECK_THROWS_AS(lin->VjpState(Eigen::MatrixXd::Ones(7, 3), gz), Error);
  CHECK_THROWS_AS(lin->VjpInput(Eigen::MatrixXd::Ones(7, 2), gb), Error);
  Eigen::VectorXd gp = Eigen::VectorXd::Zero(op->parameters().size() + 1);
  CHECK_THROWS_AS(lin->VjpParams(Eigen::MatrixXd::Ones(7, 2), gp), Error);
}

TEST_CASE("prox gradient denoiser inside an unrolled network (tied and untied)") {
  Rng rng(31);
  const Index m = 5, n = 8, hidden = 6, batch = 3;
  const Eigen::MatrixXd a = RandomMatrix(m, n, rng, 1.0 / std::sqrt(5.0));
  const Eigen::MatrixXd z0 = 0.5 * RandomMatrix(n, batch, rng);
  const Eigen::MatrixXd b = RandomMatrix(m, batch, rng);

  UnrolledNetwork<double> tied(MakeDenoiser(a, {hidden, true}, rng), 3);
  CHECK(tied.tied());
  CHECK(tied.parameters().Find("eta") == 0);
  CHECK(tied.parameters().size() == 1 + hidden * n + hidden + n * hidden + n);
  RequirePassed(CheckOperatorGradients(tied, z0, b));

  std::vector<std::unique_ptr<Operator<double>>> layers;
  for (int k = 0; k < 3; ++k) layers.push_back(MakeDenoiser(a, {hidden, true}, rng));
  UnrolledNetwork<double> untied(std::move(layers));
  CHECK(untied.parameters().Find("layer2.W1") >= 0);
  RequirePassed(CheckOperatorGradients(untied, z0, b));
}
