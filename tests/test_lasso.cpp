// ISTA/FISTA: KKT conditions at convergence, and the shared benchmark's
// reference NMSE table (needs ../shared/data/alista; skipped when absent).
#include "core/data.hpp"
#include "core/metrics.hpp"
#include "core/npy.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/lista.hpp"
#include "unfolding/unrolled_network.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

using namespace implicit;
using implicit::test::CheckKkt;
using implicit::test::SharedDir;


namespace {

}  // namespace

TEST_CASE("ISTA and FISTA reach a LASSO solution (KKT conditions)") {
  Rng rng(42);
  const Eigen::MatrixXd a = GaussianMeasurementMatrix<double>(30, 60, rng);
  const Eigen::MatrixXd x_true = BernoulliGaussian<double>(60, 5, 0.1, rng);
  const Eigen::MatrixXd b = a * x_true;
  const double lambda = 0.05;
  for (auto method : {LassoSolverOptions::Method::kIsta, LassoSolverOptions::Method::kFista}) {
    LassoSolverOptions options;
    options.method = method;
    options.lambda = lambda;
    options.max_iterations = method == LassoSolverOptions::Method::kIsta ? 50000 : 20000;
    options.tolerance = 1e-13;
    Eigen::MatrixXd x = Eigen::MatrixXd::Zero(60, 5);
    const LassoSolverSummary summary = SolveLasso<double>(a, b, options, x);
    INFO(summary.BriefReport());
    CHECK(summary.termination == LassoSolverSummary::Termination::kConverged);
    CheckKkt(a, b, x, lambda);
    CHECK((x.array() != 0.0).count() > 0);
  }
}

TEST_CASE("LASSO solver rejects bad input") {
  Eigen::MatrixXd a = Eigen::MatrixXd::Identity(3, 4), b = Eigen::MatrixXd::Zero(3, 2), x = Eigen::MatrixXd::Zero(4, 2);
  LassoSolverOptions bad;
  bad.lambda = -1.0;
  CHECK_THROWS_AS(SolveLasso<double>(a, b, bad, x), Error);
  Eigen::MatrixXd wrong_x = Eigen::MatrixXd::Zero(3, 2);
  CHECK_THROWS_AS(SolveLasso<double>(a, b, LassoSolverOptions{}, wrong_x), Error);
  b(1, 1) = std::nan("");
  CHECK_THROWS_AS(SolveLasso<double>(a, b, LassoSolverOptions{}, x), Error);
}

TEST_CASE("an unrolled network of ISTA-initialised LISTA layers equals K ISTA iterations") {
  Rng rng(9);
  const Eigen::MatrixXd a = GaussianMeasurementMatrix<double>(20, 40, rng);
  const Eigen::MatrixXd b = a * BernoulliGaussian<double>(40, 3, 0.1, rng);
  const double lipschitz = EstimateLipschitz<double>(a);
  std::vector<std::unique_ptr<Operator<double>>> layers;
  for (int k = 0; k < 6; ++k) {
    auto layer = std::make_unique<ListaLayer<double>>(ListaLayerConfig{40, 20, false});
    layer->InitializeFromIsta(a, lipschitz, 0.1);
    layers.push_back(std::move(layer));
  }
  UnrolledNetwork<double> net(std::move(layers));
  Eigen::MatrixXd out(40, 3);
  net.Forward(Eigen::MatrixXd::Zero(40, 3), b, out);
  LassoSolverOptions options;
  options.method = LassoSolverOptions::Method::kIsta;
  options.lambda = 0.1;
  options.lipschitz = lipschitz;
  options.max_iterations = 6;
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(40, 3);
  SolveLasso<double>(a, b, options, x);
  CHECK((out - x).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("reference NMSE of ISTA/FISTA after 16 iterations on the shared benchmark") {
  const std::filesystem::path dir = std::filesystem::path(SharedDir()) / "data" / "alista";
  if (!std::filesystem::exists(dir / "A_m250_n500.npy") || !std::filesystem::exists(dir / "xtest_n500_p10.npy")) {
    MESSAGE("SKIPPED: shared benchmark data not found in " << dir.string()
            << " (set IMPLICIT_SHARED_DIR to the folder holding data/alista)");
    return;
  }
  const Eigen::MatrixXd a = ReadNpyMatrix<double>((dir / "A_m250_n500.npy").string());
  const Eigen::MatrixXd x_true = ReadNpyMatrix<double>((dir / "xtest_n500_p10.npy").string());
  const Eigen::MatrixXd b = a * x_true;
  struct Reference { double lambda; LassoSolverOptions::Method method; double nmse_db; };
  const Reference references[] = {
      {0.4, LassoSolverOptions::Method::kIsta, -5.76}, {0.4, LassoSolverOptions::Method::kFista, -7.57},
      {0.1, LassoSolverOptions::Method::kIsta, -5.26}, {0.1, LassoSolverOptions::Method::kFista, -10.07}};
  for (const Reference& ref : references) {
    LassoSolverOptions options;
    options.method = ref.method;
    options.lambda = ref.lambda;
    options.max_iterations = 16;
    Eigen::MatrixXd x = Eigen::MatrixXd::Zero(500, 1000);
    SolveLasso<double>(a, b, options, x);
    const double nmse = NmseDb<double>(x, x_true);
    CAPTURE(ref.lambda);
    CAPTURE(static_cast<int>(ref.method));
    CHECK(nmse == doctest::Approx(ref.nmse_db).epsilon(0).scale(1).epsilon(0.05 / std::abs(ref.nmse_db)));
    CHECK(std::abs(nmse - ref.nmse_db) <= 0.05);
  }
}
