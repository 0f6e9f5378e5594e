// Finite-difference checks (double) of every operator's VJPs: the soft
// threshold, ISTA's step, the LISTA layer and whole unrolled networks (tied
// and untied). Relative error <= 1e-6 (see core/gradient_check.hpp).
#include "core/gradient_check.hpp"
#include "core/prox.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/lista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/unrolled_network.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <limits>

using namespace implicit;
using implicit::test::RandomMatrix;
using implicit::test::RequirePassed;


namespace {

std::unique_ptr<ListaLayer<double>> MakeLista(Index n, Index m, bool per_coordinate, Rng& rng) {
  auto layer = std::make_unique<ListaLayer<double>>(ListaLayerConfig{n, m, per_coordinate});
  layer->InitializeRandom(rng, 0.3, 0.05);
  return layer;
}

}  // namespace

TEST_CASE("soft threshold: values, and VJP w.r.t. input and threshold") {
  Eigen::MatrixXd u(3, 1);
  u << 2.0, -0.5, -3.0;
  Eigen::VectorXd theta(1);
  theta << 1.0;
  Eigen::MatrixXd out(3, 1);
  SoftThreshold<double>::Apply(u, theta, out);
  CHECK(out(0) == doctest::Approx(1.0));
  CHECK(out(1) == 0.0);
  CHECK(out(2) == doctest::Approx(-2.0));

  Rng rng(7);
  for (bool per_coordinate : {false, true}) {
    CAPTURE(per_coordinate);
    const Index n = 6, batch = 4;
    const Eigen::MatrixXd uu = RandomMatrix(n, batch, rng);
    Eigen::VectorXd th = Eigen::VectorXd::Constant(per_coordinate ? n : 1, 0.4);
    if (per_coordinate) th += 0.1 * RandomMatrix(n, 1, rng);
    const Eigen::MatrixXd g = RandomMatrix(n, batch, rng);
    Eigen::MatrixXd grad_u = Eigen::MatrixXd::Constant(n, batch, std::numeric_limits<double>::quiet_NaN());
    Eigen::VectorXd grad_theta = Eigen::VectorXd::Zero(th.size());
    SoftThreshold<double>::Backward(uu, th, g, grad_u, grad_theta);

    Eigen::MatrixXd tmp(n, batch);
    auto wrt_u = [&](const Eigen::VectorXd& p) {
      SoftThreshold<double>::Apply(Eigen::Map<const Eigen::MatrixXd>(p.data(), n, batch), th, tmp);
      return (g.array() * tmp.array()).sum();
    };
    const GradientCheckResult ru = CheckGradient("soft d/du", wrt_u,
        Eigen::Map<const Eigen::VectorXd>(uu.data(), uu.size()),
        Eigen::Map<const Eigen::VectorXd>(grad_u.data(), grad_u.size()), {});
    INFO(ru.Report());
    CHECK(ru.passed);
    auto wrt_theta = [&](const Eigen::VectorXd& p) {
      SoftThreshold<double>::Apply(uu, p, tmp);
      return (g.array() * tmp.array()).sum();
    };
    const GradientCheckResult rt = CheckGradient("soft d/dtheta", wrt_theta, th, grad_theta, {});
    INFO(rt.Report());
    CHECK(rt.passed);
  }
}

TEST_CASE("soft threshold rejects a threshold of the wrong size") {
  Eigen::MatrixXd u = Eigen::MatrixXd::Ones(4, 2), out(4, 2);
  Eigen::VectorXd theta = Eigen::VectorXd::Ones(3);
  CHECK_THROWS_AS(SoftThreshold<double>::Apply(u, theta, out), Error);
}

TEST_CASE("gradient check catches a wrong VJP") {
  // A deliberately wrong analytic gradient must fail, so the check can fail.
  auto fn = [](const Eigen::VectorXd& p) { return p.squaredNorm(); };
  Eigen::VectorXd p(3);
  p << 1.0, -2.0, 0.5;
  const Eigen::VectorXd right = 2.0 * p;
  Eigen::VectorXd wrong = right;
  wrong(1) *= 1.001;
  CHECK(CheckGradient("right", fn, p, right, {}).passed);
  CHECK_FALSE(CheckGradient("wrong", fn, p, wrong, {}).passed);
  Eigen::VectorXd nan = right;
  nan(2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(CheckGradient("nan", fn, p, nan, {}).passed);
}

TEST_CASE("LISTA layer VJPs (per-coordinate and scalar threshold)") {
  Rng rng(11);
  for (bool per_coordinate : {true, false}) {
    CAPTURE(per_coordinate);
    auto layer = MakeLista(8, 5, per_coordinate, rng);
    const Eigen::MatrixXd z = RandomMatrix(8, 3, rng);
    const Eigen::MatrixXd b = RandomMatrix(5, 3, rng);
    RequirePassed(CheckOperatorGradients(*layer, z, b));
  }
}

TEST_CASE("LISTA layer initialised from ISTA is one ISTA step") {
  Rng rng(3);
  const Eigen::MatrixXd a = RandomMatrix(6, 10, rng, 1.0 / std::sqrt(6.0));
  const double lipschitz = EstimateLipschitz<double>(a);
  ListaLayer<double> lista({10, 6, false});
  lista.InitializeFromIsta(a, lipschitz, 0.1);
  IstaStep<double> ista(a, 0.1, lipschitz);
  const Eigen::MatrixXd z = RandomMatrix(10, 4, rng);
  const Eigen::MatrixXd b = RandomMatrix(6, 4, rng);
  Eigen::MatrixXd f1(10, 4), f2(10, 4);
  lista.Forward(z, b, f1);
  ista.Forward(z, b, f2);
  CHECK((f1 - f2).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("ISTA step VJPs") {
  Rng rng(5);
  const Eigen::MatrixXd a = RandomMatrix(6, 10, rng, 1.0 / std::sqrt(6.0));
  IstaStep<double> ista(a, 0.05, EstimateLipschitz<double>(a));
  RequirePassed(CheckOperatorGradients(ista, RandomMatrix(10, 3, rng), RandomMatrix(6, 3, rng)));
}

TEST_CASE("operators reject inputs of the wrong shape") {
  Rng rng(1);
  auto layer = MakeLista(8, 5, true, rng);
  Eigen::MatrixXd out(8, 2);
  CHECK_THROWS_AS(layer->Forward(Eigen::MatrixXd::Zero(7, 2), Eigen::MatrixXd::Zero(5, 2), out), Error);
  CHECK_THROWS_AS(layer->Forward(Eigen::MatrixXd::Zero(8, 2), Eigen::MatrixXd::Zero(5, 3), out), Error);
  CHECK_THROWS_AS(layer->Linearize(Eigen::MatrixXd::Zero(8, 2), Eigen::MatrixXd::Zero(4, 2)), Error);
}

TEST_CASE("untied unrolled LISTA network: whole-network VJPs") {
  Rng rng(21);
  std::vector<std::unique_ptr<Operator<double>>> layers;
  for (int k = 0; k < 4; ++k) layers.push_back(MakeLista(7, 4, true, rng));
  UnrolledNetwork<double> net(std::move(layers));
  CHECK(net.depth() == 4);
  CHECK(net.parameters().size() == 4 * (7 * 4 + 7 * 7 + 7));
  CHECK(net.parameters().Find("layer2.W2") >= 0);
  // Non-zero z0 so that d/dstate is exercised through every layer.
  RequirePassed(CheckOperatorGradients(net, 0.5 * RandomMatrix(7, 3, rng), RandomMatrix(4, 3, rng)));
}

TEST_CASE("tied unrolled network: shared parameters accumulate over layers") {
  Rng rng(31);
  UnrolledNetwork<double> net(MakeLista(6, 4, false, rng), 5);
  CHECK(net.tied());
  CHECK(net.parameters().size() == 6 * 4 + 6 * 6 + 1);
  // A threshold small enough that activity (and so d/dz0) survives 5 layers.
  static_cast<ListaLayer<double>&>(net.layer(0)).theta().setConstant(0.01);
  RequirePassed(CheckOperatorGradients(net, 0.5 * RandomMatrix(6, 3, rng), RandomMatrix(4, 3, rng)));
}

TEST_CASE("network parameters are one flat vector shared with the layers") {
  Rng rng(2);
  std::vector<std::unique_ptr<Operator<float>>> layers;
  for (int k = 0; k < 2; ++k) {
    auto layer = std::make_unique<ListaLayer<float>>(ListaLayerConfig{3, 2, true});
    layer->InitializeRandom(rng);
    layers.push_back(std::move(layer));
  }
  UnrolledNetwork<float> net(std::move(layers));
  auto& second = static_cast<ListaLayer<float>&>(net.layer(1));
  const Index offset = net.parameter_offset(1) + net.layer(1).parameters().info(2).offset;
  net.parameters().Flat()(offset) = 42.0f;  // first theta entry of layer 1
  CHECK(second.theta()(0, 0) == 42.0f);
}

TEST_CASE("prox-gradient (LISTA-CP / ALISTA) layer VJPs, learned and fixed W") {
  Rng rng(41);
  auto a = std::make_shared<const Eigen::MatrixXd>(RandomMatrix(5, 9, rng, 1.0 / std::sqrt(5.0)));
  for (bool learn : {true, false}) {
    CAPTURE(learn);
    ProxGradientLayer<double> layer(a, a->transpose() + 0.1 * RandomMatrix(9, 5, rng), 0.7, 0.05,
                                    ProxGradientConfig{learn});
    CHECK(layer.parameters().size() == (learn ? 9 * 5 + 2 : 2));
    RequirePassed(CheckOperatorGradients(layer, RandomMatrix(9, 4, rng), RandomMatrix(5, 4, rng)));
  }
}

TEST_CASE("prox-gradient layer with W = A^T, gamma = 1/L, theta = lambda/L is one ISTA step") {
  Rng rng(43);
  auto a = std::make_shared<const Eigen::MatrixXd>(RandomMatrix(6, 10, rng, 1.0 / std::sqrt(6.0)));
  const double lipschitz = EstimateLipschitz<double>(*a);
  ProxGradientLayer<double> layer(a, a->transpose(), 1.0 / lipschitz, 0.1 / lipschitz);
  IstaStep<double> ista(*a, 0.1, lipschitz);
  const Eigen::MatrixXd z = RandomMatrix(10, 3, rng), b = RandomMatrix(6, 3, rng);
  Eigen::MatrixXd f1(10, 3), f2(10, 3);
  layer.Forward(z, b, f1);
  ista.Forward(z, b, f2);
  CHECK((f1 - f2).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("support selection: the largest entries above theta pass unshrunk") {
  // One sample of 10 entries, theta = 0.5, percent = 20: the (100-20)th
  // percentile (nearest rank 7 of 0..9 ascending) is 3.0, so only |u| > 3 (4.0, -5.0) pass.
  Eigen::MatrixXd u(10, 1);
  u << 0.1, -0.2, 0.6, -0.8, 1.0, 2.0, -2.5, 3.0, 4.0, -5.0;
  Eigen::VectorXd theta(1);
  theta << 0.5;
  Eigen::MatrixXd out(10, 1), selected(10, 1);
  SupportSelectionThreshold<double>::Apply(u, theta, 20.0, out, &selected);
  Eigen::MatrixXd expected(10, 1);
  expected << 0, 0, 0.1, -0.3, 0.5, 1.5, -2.0, 2.5, 4.0, -5.0;
  CHECK((out - expected).cwiseAbs().maxCoeff() < 1e-15);
  CHECK(selected.sum() == 2.0);
  // percent 0 is the plain soft threshold.
  Eigen::MatrixXd plain(10, 1);
  SupportSelectionThreshold<double>::Apply(u, theta, 0.0, out, &selected);
  SoftThreshold<double>::Apply(u, theta, plain);
  CHECK(out == plain);
  CHECK_THROWS_AS(SupportSelectionThreshold<double>::Apply(u, theta, 120.0, out, &selected), Error);
}

TEST_CASE("support-selection threshold VJP (mask held constant)") {
  Rng rng(51);
  const Index n = 20, batch = 3;
  const Eigen::MatrixXd u = RandomMatrix(n, batch, rng);
  Eigen::VectorXd theta(1);
  theta << 0.3;
  Eigen::MatrixXd out(n, batch), selected(n, batch);
  SupportSelectionThreshold<double>::Apply(u, theta, 15.0, out, &selected);
  CHECK(selected.sum() > 0.0);
  const Eigen::MatrixXd g = RandomMatrix(n, batch, rng);
  Eigen::MatrixXd grad_u = Eigen::MatrixXd::Constant(n, batch, std::numeric_limits<double>::quiet_NaN());
  Eigen::VectorXd grad_theta = Eigen::VectorXd::Zero(1);
  SupportSelectionThreshold<double>::Backward(u, theta, selected, g, grad_u, grad_theta);
  Eigen::MatrixXd tmp(n, batch);
  auto wrt_u = [&](const Eigen::VectorXd& p) {
    SupportSelectionThreshold<double>::Apply(Eigen::Map<const Eigen::MatrixXd>(p.data(), n, batch), theta, 15.0, tmp);
    return (g.array() * tmp.array()).sum();
  };
  const GradientCheckResult ru = CheckGradient("ss d/du", wrt_u, Eigen::Map<const Eigen::VectorXd>(u.data(), u.size()),
                                               Eigen::Map<const Eigen::VectorXd>(grad_u.data(), grad_u.size()), {});
  INFO(ru.Report());
  CHECK(ru.passed);
  auto wrt_theta = [&](const Eigen::VectorXd& p) {
    SupportSelectionThreshold<double>::Apply(u, p, 15.0, tmp);
    return (g.array() * tmp.array()).sum();
  };
  const GradientCheckResult rt = CheckGradient("ss d/dtheta", wrt_theta, theta, grad_theta, {});
  INFO(rt.Report());
  CHECK(rt.passed);
}

TEST_CASE("LISTA-SS and LISTA-CPSS / ALISTA layers with support selection: VJPs") {
  Rng rng(61);
  ListaLayer<double> lista_ss({12, 6, false, 10.0});
  lista_ss.InitializeRandom(rng, 0.3, 0.05);
  RequirePassed(CheckOperatorGradients(lista_ss, RandomMatrix(12, 3, rng), RandomMatrix(6, 3, rng)));
  auto a = std::make_shared<const Eigen::MatrixXd>(RandomMatrix(6, 12, rng, 1.0 / std::sqrt(6.0)));
  for (bool learn : {true, false}) {
    CAPTURE(learn);
    ProxGradientLayer<double> cpss(a, a->transpose(), 0.8, 0.05, ProxGradientConfig{learn, 10.0});
    RequirePassed(CheckOperatorGradients(cpss, RandomMatrix(12, 3, rng), RandomMatrix(6, 3, rng)));
  }
}

TEST_CASE("TiLISTA: layers sharing one W block; whole-network VJPs and active depth") {
  Rng rng(71);
  auto a = std::make_shared<const Eigen::MatrixXd>(RandomMatrix(5, 10, rng, 1.0 / std::sqrt(5.0)));
  std::vector<std::unique_ptr<Operator<double>>> layers;
  for (int k = 0; k < 4; ++k) {
    layers.push_back(std::make_unique<ProxGradientLayer<double>>(
        a, a->transpose() + 0.1 * RandomMatrix(10, 5, rng), 0.7 + 0.05 * k, 0.03, ProxGradientConfig{true, 5.0 * (k + 1)}));
  }
  UnrolledNetwork<double> net(std::move(layers), {"W"});
  CHECK(net.parameters().size() == 10 * 5 + 4 * 2);
  CHECK(net.parameters().Find("W") == 0);
  CHECK(net.parameters().Find("layer3.theta") > 0);
  // The shared W is layer 0's: every layer sees the same matrix.
  const auto& l0 = static_cast<const ProxGradientLayer<double>&>(net.layer(0));
  const auto& l3 = static_cast<const ProxGradientLayer<double>&>(net.layer(3));
  CHECK(l0.W().data() == l3.W().data());
  CHECK(net.IntroducedParameterIndices(0).size() == 52);
  CHECK(net.IntroducedParameterIndices(2).size() == 2);
  CHECK(net.LayerParameterIndices(2).size() == 52);
  CHECK_THROWS_AS(net.parameter_offset(1), Error);
  RequirePassed(CheckOperatorGradients(net, 0.3 * RandomMatrix(10, 3, rng), RandomMatrix(5, 3, rng)));
  net.set_active_depth(2);
  RequirePassed(CheckOperatorGradients(net, 0.3 * RandomMatrix(10, 3, rng), RandomMatrix(5, 3, rng)));
  CHECK_THROWS_AS(net.set_active_depth(5), Error);
  std::vector<std::unique_ptr<Operator<double>>> one;
  one.push_back(std::make_unique<ProxGradientLayer<double>>(a, a->transpose(), 0.5, 0.1));
  CHECK_THROWS_AS(UnrolledNetwork<double>(std::move(one), {"nonexistent"}), Error);
}
