// ISTA and FISTA for the LASSO  min_x 1/2 ||b - A x||^2 + lambda ||x||_1,
// batched (one problem per column of B and X), and ISTA's iteration as an
// Operator (the untrained "layer" that LISTA learns to improve on).
//
//   ISTA  (Daubechies, Defrise, De Mol 2004):
//     x_{k+1} = soft(x_k + (1/L) A^T (b - A x_k), lambda / L)
//   FISTA (Beck & Teboulle, SIAM J. Imaging Sci. 2009): the same step taken
//     from y_k = x_k + ((t_{k-1} - 1) / t_k)(x_k - x_{k-1}),
//     t_k = (1 + sqrt(1 + 4 t_{k-1}^2)) / 2, t_0 = 1.
// L must be >= ||A||_2^2 for convergence; by default it is estimated by power
// iteration and multiplied by a safety factor of 1.001 (the LISTA-CPSS/ALISTA
// papers' convention, which also covers the power iteration's small
// underestimate).
#pragma once

#include "core/operator.hpp"
#include "core/types.hpp"

#include <functional>
#include <string>

namespace implicit {

struct LassoSolverOptions {
  enum class Method { kIsta, kFista };
  Method method = Method::kFista;
  double lambda = 0.1;
  int max_iterations = 100;
  // L in the step 1/L. 0 = estimate as safety_factor * ||A||_2^2 (power iteration).
  double lipschitz = 0.0;
  double safety_factor = 1.001;
  // Stop early once every sample's relative change
  // ||x_{k+1} - x_k|| / max(||x_k||, 1e-12) is below tolerance. 0 = never.
  double tolerance = 0.0;
  std::uint64_t power_iteration_seed = 0;
  bool IsValid(std::string* error) const;
  // "ista" / "fista"; Error otherwise.
  static Method ParseMethod(const std::string& name);
};

struct LassoSolverSummary {
  enum class Termination { kMaxIterations, kConverged };
  Termination termination = Termination::kMaxIterations;
  int iterations = 0;
  double lipschitz = 0.0;
  std::string message;
  std::string BriefReport() const;
};

// Called after every iteration k = 1..iterations with the current estimate.
template <typename Scalar>
using LassoIterationCallback = std::function<void(int iteration, ConstMatRef<Scalar> x)>;

// A: m x n, B: m x batch, X: n x batch (in: starting point, out: estimate).
template <typename Scalar>
LassoSolverSummary SolveLasso(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b,
                              const LassoSolverOptions& options, MatRef<Scalar> x,
                              const LassoIterationCallback<Scalar>& on_iteration = {});

// safety_factor * ||A||_2^2 by power iteration (seeded, deterministic).
template <typename Scalar>
double EstimateLipschitz(ConstMatRef<Scalar> a, double safety_factor = 1.001, std::uint64_t seed = 0);

// One ISTA step as an operator: state z (n), input b (m), no learned
// parameters. f(z; b) = soft(z + (1/L) A^T (b - A z), lambda / L).
// Applied K times it is the untrained baseline; as a fixed-point map its
// solution is the LASSO minimiser.
template <typename Scalar>
class IstaStep final : public Operator<Scalar> {
 public:
  IstaStep(const MatrixX<Scalar>& a, double lambda, double lipschitz);
  std::string name() const override { return "ista_step"; }
  Index state_dim() const override { return a_.cols(); }
  Index input_dim() const override { return a_.rows(); }
  void Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, MatRef<Scalar> out) const override;
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z,
                                                   ConstMatRef<Scalar> x) const override;
  const MatrixX<Scalar>& matrix() const { return a_; }
  double lambda() const { return lambda_; }
  double lipschitz() const { return lipschitz_; }

 private:
  class Lin;
  // u = z + (1/L) A^T (b - A z), the gradient step before the threshold.
  void GradientStep(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b, MatRef<Scalar> u) const;
  MatrixX<Scalar> a_;
  double lambda_;
  double lipschitz_;
};

}  // namespace implicit
