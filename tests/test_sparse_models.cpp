// experiments/common/sparse_models: known-answer checks of the model zoo the
// experiments share. Step-LISTA (Ablin et al. 2019) without support selection
// is, at its initialisation, exactly ISTA; its learned numbers are only gamma
// and theta per layer (W = A^T stays fixed).
#include "core/data.hpp"
#include "experiments/common/sparse_models.hpp"
#include "unfolding/ista.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

using namespace implicit;
using M = Eigen::MatrixXd;

TEST_CASE("sparse models: slista at its initialisation without support selection is K ISTA steps") {
  Rng rng(11);
  auto a = std::make_shared<const M>(GaussianMeasurementMatrix<double>(20, 40, rng));
  const double lipschitz = EstimateLipschitz<double>(*a);
  SparseModelConfig config;
  config.model = "slista";
  config.layers = 5;
  config.lambda = 0.05;
  config.support_p = 0.0;
  config.support_p_max = 0.0;
  const auto net = BuildSparseModel<double>(config, a, lipschitz);
  CHECK(net->parameters().size() == 2 * config.layers);  // gamma and theta per layer, W fixed
  const M x = BernoulliGaussian<double>(40, 7, 0.2, rng);
  const M b = *a * x;
  M out = M::Constant(40, 7, 123.0);  // garbage: every entry must be assigned
  net->Forward(M::Zero(40, 7), b, out);
  const IstaStep<double> ista(*a, config.lambda, lipschitz);
  M z = M::Zero(40, 7), next(40, 7);
  for (Index k = 0; k < config.layers; ++k) {
    ista.Forward(z, b, next);
    z = next;
  }
  CHECK((out - z).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(z.norm() > 0.1);  // the comparison is not between two zero matrices
}

TEST_CASE("sparse models: slista is a known model name, an unknown one is an error naming it") {
  CHECK(IsLearnedSparseModel("slista"));
  CHECK_FALSE(IsLearnedSparseModel("ista"));
  Rng rng(1);
  auto a = std::make_shared<const M>(GaussianMeasurementMatrix<double>(5, 8, rng));
  SparseModelConfig config;
  config.model = "nosuch";
  CHECK_THROWS_WITH_AS(BuildSparseModel<double>(config, a, 1.0), doctest::Contains("nosuch"), Error);
}
