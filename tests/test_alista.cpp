// ALISTA analytic weights (unfolding/alista.hpp): the constraint
// diag(W^T A) = 1, optimality of the closed form (feasible perturbations do
// not decrease ||W^T A||_F; first-order condition), lower generalized
// coherence than the plain coherence of A, errors on rank-deficient / NaN /
// tall A, and the shared 250 x 500 benchmark matrix (skipped when absent).
#include "core/npy.hpp"
#include "unfolding/alista.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

using namespace implicit;
using implicit::test::RandomMatrix;
using implicit::test::SharedDir;


namespace {

double MaxDiagonalError(const Eigen::MatrixXd& w, const Eigen::MatrixXd& a) {
  return ((w.transpose() * a).diagonal().array() - 1.0).abs().maxCoeff();
}

}  // namespace

TEST_CASE("ALISTA analytic weight satisfies diag(W^T A) = 1 and equals the closed form") {
  Rng rng(201);
  const Eigen::MatrixXd a = RandomMatrix(8, 15, rng, 1.0 / std::sqrt(8.0));
  const Eigen::MatrixXd w = AnalyticWeight<double>(a);
  CHECK(w.rows() == 8);
  CHECK(w.cols() == 15);
  CHECK(MaxDiagonalError(w, a) <= 1e-12);
  // W^T A = D^{-1} P with P = A^+ A the projector onto the row space of A.
  const Eigen::MatrixXd p = a.completeOrthogonalDecomposition().pseudoInverse() * a;
  const Eigen::MatrixXd expected = p.diagonal().cwiseInverse().asDiagonal() * p;
  CHECK((w.transpose() * a - expected).cwiseAbs().maxCoeff() <= 1e-10);

  // float: same W to float rounding.
  const Eigen::MatrixXf wf = AnalyticWeight<float>(a.cast<float>());
  CHECK((wf.cast<double>() - w).cwiseAbs().maxCoeff() <= 1e-4 * w.cwiseAbs().maxCoeff());
}

TEST_CASE("ALISTA analytic weight minimises ||W^T A||_F over diag(W^T A) = 1") {
  Rng rng(203);
  const Index m = 10, n = 24;
  const Eigen::MatrixXd a = RandomMatrix(m, n, rng, 1.0 / std::sqrt(static_cast<double>(m)));
  const Eigen::MatrixXd w = AnalyticWeight<double>(a);
  const double objective = (w.transpose() * a).norm();
  for (int trial = 0; trial < 5; ++trial) {
    CAPTURE(trial);
    // Random feasible direction: column i of D orthogonal to a_i, so diag(D^T A) = 0.
    Eigen::MatrixXd d = RandomMatrix(m, n, rng);
    for (Index i = 0; i < n; ++i) d.col(i) -= a.col(i) * (a.col(i).dot(d.col(i)) / a.col(i).squaredNorm());
    CHECK(((d.transpose() * a).diagonal()).cwiseAbs().maxCoeff() <= 1e-12);
    for (double t : {1.0, 1e-2, 1e-4}) {
      CAPTURE(t);
      const Eigen::MatrixXd perturbed = w + t * d;
      CHECK(MaxDiagonalError(perturbed, a) <= 1e-10);
      CHECK((perturbed.transpose() * a).norm() >= objective * (1.0 - 1e-14));
    }
    // First-order condition: A^T w_i is orthogonal to A^T d_i for every
    // feasible d_i, so the objective grows exactly by ||A^T D||_F^2.
    const Eigen::MatrixXd atw = a.transpose() * w, atd = a.transpose() * d;
    for (Index i = 0; i < n; ++i) {
      CHECK(std::abs(atw.col(i).dot(atd.col(i))) <= 1e-10 * atw.col(i).norm() * atd.col(i).norm());
    }
  }
}

TEST_CASE("ALISTA weight has lower generalized coherence than the plain coherence of A (50 x 100)") {
  Rng rng(205);
  Eigen::MatrixXd a = RandomMatrix(50, 100, rng);
  const Eigen::MatrixXd w = AnalyticWeight<double>(a);
  const double generalized = MutualCoherence<double>(w, a);
  const double plain = NormalizedMutualCoherence<double>(a);
  CAPTURE(generalized);
  CAPTURE(plain);
  CHECK(generalized < plain);
  // MutualCoherence(A, A) of column-normalised A is the plain coherence.
  a.colwise().normalize();
  CHECK(MutualCoherence<double>(a, a) == doctest::Approx(plain).epsilon(1e-12));
}

TEST_CASE("ALISTA analytic weight rejects rank-deficient, tall, NaN and empty A") {
  Rng rng(207);
  // Rank 4 < m = 6: A A^T singular.
  const Eigen::MatrixXd low_rank = RandomMatrix(6, 4, rng) * RandomMatrix(4, 12, rng);
  CHECK_THROWS_AS(AnalyticWeight<double>(low_rank), Error);
  Eigen::MatrixXd repeated_row = RandomMatrix(5, 12, rng);
  repeated_row.row(3) = repeated_row.row(1);
  CHECK_THROWS_AS(AnalyticWeight<double>(repeated_row), Error);
  CHECK_THROWS_AS(AnalyticWeight<double>(RandomMatrix(12, 6, rng)), Error);  // m > n
  Eigen::MatrixXd nan = RandomMatrix(5, 12, rng);
  nan(2, 7) = std::nan("");
  CHECK_THROWS_AS(AnalyticWeight<double>(nan), Error);
  CHECK_THROWS_AS(AnalyticWeight<double>(Eigen::MatrixXd(0, 4)), Error);
  Eigen::MatrixXd zero_column = RandomMatrix(5, 12, rng);
  zero_column.col(4).setZero();
  CHECK_THROWS_AS(AnalyticWeight<double>(zero_column), Error);
  try {
    AnalyticWeight<double>(low_rank);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("full row rank") != std::string::npos);
  }
  CHECK_THROWS_AS(MutualCoherence<double>(RandomMatrix(5, 12, rng), RandomMatrix(5, 11, rng)), Error);
  CHECK_THROWS_AS(NormalizedMutualCoherence<double>(zero_column), Error);
}

TEST_CASE("ALISTA analytic weight of the shared 250 x 500 benchmark matrix") {
  const std::filesystem::path path = std::filesystem::path(SharedDir()) / "data" / "alista" / "A_m250_n500.npy";
  if (!std::filesystem::exists(path)) {
    MESSAGE("SKIPPED: shared benchmark matrix not found at " << path.string()
            << " (set IMPLICIT_SHARED_DIR to the folder holding data/alista)");
    return;
  }
  const Eigen::MatrixXd a = ReadNpyMatrix<double>(path.string());
  REQUIRE(a.rows() == 250);
  REQUIRE(a.cols() == 500);
  const Eigen::MatrixXd w = AnalyticWeight<double>(a);
  CHECK(MaxDiagonalError(w, a) <= 1e-10);
  const double generalized = MutualCoherence<double>(w, a);
  const double plain = NormalizedMutualCoherence<double>(a);
  MESSAGE("A_m250_n500: generalized coherence of W " << generalized << ", mutual coherence of A " << plain);
  CHECK(generalized < plain);
}
