// Helpers shared by the doctest suites.
#pragma once

#include "core/gradient_check.hpp"
#include "core/types.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <string>

namespace implicit::test {

// rows x cols with i.i.d. N(0, scale^2) entries, drawn column by column.
inline Eigen::MatrixXd RandomMatrix(Index rows, Index cols, Rng& rng, double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  Eigen::MatrixXd m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = normal(rng);
  return m;
}

// A failed operator gradient check prints its four-line report.
inline void RequirePassed(const OperatorGradientCheck& check) {
  INFO(check.Report());
  CHECK(check.passed());
}

// LASSO optimality: ||A^T (b - A x)||_inf <= lambda (1 + 1e-4), and
// A_i^T (b - A x) = lambda sign(x_i) on the support.
inline void CheckKkt(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b, const Eigen::MatrixXd& x, double lambda) {
  const Eigen::MatrixXd correlation = a.transpose() * (b - a * x);
  for (Index j = 0; j < x.cols(); ++j) {
    CHECK(correlation.col(j).cwiseAbs().maxCoeff() <= lambda * (1.0 + 1e-4));
    for (Index i = 0; i < x.rows(); ++i) {
      if (x(i, j) != 0.0) {
        CHECK(correlation(i, j) == doctest::Approx(lambda * (x(i, j) > 0 ? 1.0 : -1.0)).epsilon(1e-4));
      }
    }
  }
}

// The folder holding data/alista/ ($IMPLICIT_SHARED_DIR, else the configured
// ../shared). Tests that need it skip with a message when it is absent.
inline std::string SharedDir() {
  if (const char* env = std::getenv("IMPLICIT_SHARED_DIR")) return env;
  return IMPLICIT_SHARED_DIR;
}

}  // namespace implicit::test
