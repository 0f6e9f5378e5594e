// Finite-difference checks of vector-Jacobian products (dlib test_layer /
// Ceres GradientChecker style), used by every operator's tests, in double.
//
// For a map F and a random cotangent g, the analytic VJP v = J^T g is compared
// with central differences of the scalar s(p) = <g, F(p)> (fourth-order stencil):
//   v_i ~= [8 (s(p + h e_i) - s(p - h e_i)) - (s(p + 2h e_i) - s(p - 2h e_i))] / (12 h),
//   h = step * max(1, |p_i|).
// Piecewise-linear maps (soft threshold) are exact unless p +- 2h crosses a
// kink; test points are random, so that is unlikely for small h.
// Error per entry (Ceres' normalisation by the larger magnitude, with a floor
// so entries that are ~0 on both sides are judged against the vector's scale):
//   err_i = |v_i - fd_i| / max(|v_i|, |fd_i|, relative_floor * max_j max(|v_j|, |fd_j|)).
// The check fails on the worst entry. Output buffers handed to the VJPs are
// pre-filled with NaN (assign contract: an unassigned entry is caught) or with
// random values that are subtracted afterwards (accumulate contract).
#pragma once

#include "core/operator.hpp"
#include "core/types.hpp"

#include <functional>
#include <string>

namespace implicit {

struct GradientCheckOptions {
  double step = 1e-5;             // relative finite-difference step h
  double tolerance = 1e-6;        // max allowed err_i
  double relative_floor = 1e-6;   // see the error definition above
  std::uint64_t seed = 1234;      // for the random cotangent and accumulate pre-fill
  bool IsValid(std::string* error) const;
};

struct GradientCheckResult {
  std::string what;               // e.g. "lista_layer: d/dstate"
  Index size = 0;                 // number of entries compared
  double max_error = 0.0;         // worst err_i
  double norm_relative_error = 0.0;  // ||v - fd|| / max(||v||, ||fd||), the vector-wise error
  Index worst_index = -1;
  double analytic_at_worst = 0.0;
  double numeric_at_worst = 0.0;
  bool passed = false;
  std::string Report() const;     // one line
};

// Compares `analytic` with central differences of scalar_fn around `point`.
GradientCheckResult CheckGradient(const std::string& what,
                                  const std::function<double(const Eigen::VectorXd&)>& scalar_fn,
                                  const Eigen::VectorXd& point, const Eigen::VectorXd& analytic,
                                  const GradientCheckOptions& options);

struct OperatorGradientCheck {
  GradientCheckResult value;      // Linearize(z,x)->Value() vs Forward(z,x)
  GradientCheckResult state;      // VjpState   (assign)
  GradientCheckResult input;      // VjpInput   (accumulate)
  GradientCheckResult params;     // VjpParams  (accumulate); size 0 if no parameters
  bool passed() const { return value.passed && state.passed && input.passed && params.passed; }
  std::string Report() const;     // four lines
};

// Checks all three VJPs of `op` at (z, x). The operator's parameters are
// perturbed during the check and restored exactly afterwards.
OperatorGradientCheck CheckOperatorGradients(Operator<double>& op, const Eigen::MatrixXd& z,
                                             const Eigen::MatrixXd& x,
                                             const GradientCheckOptions& options = {});

}  // namespace implicit
