// Helpers shared by the doctest suites.
#pragma once

#include "core/gradient_check.hpp"
#include "core/types.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <vector>

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

// A fresh directory under the system temp directory, removed afterwards.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "implicit_test") {
    std::random_device random;
    dir_ = std::filesystem::temp_directory_path() /
           (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(random()));
    std::filesystem::create_directories(dir_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string File(const std::string& name) const { return (dir_ / name).string(); }
  // Names of the entries of the directory (to check that no temp file is left).
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

 private:
  std::filesystem::path dir_;
};

// The message of the implicit::Error thrown by f (other exception types
// propagate and fail the test).
template <typename F>
std::string ErrorMessage(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no implicit::Error thrown>";
}

inline bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace implicit::test
