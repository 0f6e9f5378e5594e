// One iteration of ADMM for the LASSO as a learnable layer (ADMM-Net style).
//
// Problem: min_x 1/2 ||b - A x||^2 + lambda ||x||_1 with the split x = z
// (Boyd, Parikh, Chu, Peleato, Eckstein, "Distributed Optimization and
// Statistical Learning via the Alternating Direction Method of Multipliers",
// Found. Trends Mach. Learn. 2011, Sec. 6.4; over-relaxation Sec. 3.4.3),
// scaled dual u, unrolled with per-layer learned penalty and threshold as in
// Yang, Sun, Li, Xu, "Deep ADMM-Net for Compressive Sensing MRI", NeurIPS 2016:
//
//   c   = A^T b + rho (z - u)
//   x+  = (A^T A + rho I)^{-1} c                 x-update (ridge solve)
//   xh  = alpha x+ + (1 - alpha) z               over-relaxation (alpha = 1: none)
//   v   = xh + u
//   z+  = soft(v, theta)                         z-update; theta plays lambda / rho
//   u+  = u + xh - z+  ( = v - z+ )              scaled dual update
//
// State = the stacked [z; u] (2n x B, z in rows 0..n-1, u in rows n..2n-1),
// so one layer is a map on one state vector as the Operator contract
// requires; the signal estimate is the z part. Input = b (m x B).
// Learned blocks: "log_rho" 1 x 1 (rho = exp(log_rho) > 0 whatever the
// optimiser does; a plain "rho" block went negative in training), "theta" 1 x 1, and "alpha" 1 x 1 only when
// config.learn_relaxation (otherwise alpha = 1, fixed).
//
// The ridge solve for ANY rho uses one cached eigendecomposition
// A^T A = V diag(s) V^T (computed once per matrix, in double, and shared by
// every layer through a shared_ptr<const AdmmFactorization>):
//   (A^T A + rho I)^{-1} y = V diag(1 / (s + rho)) V^T y          O(n^2) per column
//   d/drho (A^T A + rho I)^{-1} y = -V diag(1 / (s + rho)^2) V^T y
// so learning rho (a different rho in every untied layer, and a new rho after
// every optimiser step) never refactorises, and the rho gradient is exact.
//
// Convergence: with rho > 0, theta fixed across layers and alpha in (0, 2),
// the iteration is ADMM for the LASSO with lambda = theta * rho, and z
// converges to a LASSO solution as the number of layers grows (Boyd et al.
// Sec. 3.2; tested: tied network, 3000 layers, KKT conditions and agreement
// with FISTA). At a fixed point x+ = z, u = A^T (b - A z) / rho.
//
// VJPs, for cotangent g = [gz; gu] of [z+; u+] (n x B each), with
// S = 1[|v| > theta] and M = (A^T A + rho I)^{-1} (symmetric):
//   <g, d[z+; u+]> = <gz - gu, dz+> + <gu, dv>
//   gv      = gu + S .* (gz - gu)                   (soft-threshold Backward)
//   gtheta += -sum (gz - gu) .* sign(v) .* S
//   gxh = gv;  gx+ = alpha gv;  gc = M gx+ = alpha M gv
//   d x+ / d rho = M (z - u) - M^2 c = M ((z - u) - x+)
//      =>  grho += <gx+, M ((z - u) - x+)> = <gc, (z - u) - x+>
//   galpha += <gv, x+ - z>                          (only if learned)
//   grad_z  = rho gc + (1 - alpha) gv               ASSIGNS
//   grad_u  = gv - rho gc                           ASSIGNS
//   grad_b += A gc                                  ACCUMULATES
#pragma once

#include <cmath>

#include "core/operator.hpp"
#include "core/types.hpp"

#include <memory>
#include <string>

namespace implicit {

// The cached eigendecomposition of A^T A, shared between ADMM layers.
// Computed in double (Eigen::SelfAdjointEigenSolver) and stored as Scalar.
template <typename Scalar>
struct AdmmFactorization {
  MatrixX<Scalar> a;  // m x n, the measurement matrix
  MatrixX<Scalar> v;  // n x n, orthonormal eigenvectors of A^T A
  VectorX<Scalar> s;  // n, eigenvalues of A^T A (ascending; rounding negatives clipped to 0)

  Index rows() const { return a.rows(); }
  Index cols() const { return a.cols(); }

  // out = (A^T A + rho I)^{-1} y = V diag(1 / (s + rho)) V^T y.
  // y, out: n x B (out pre-sized; must not alias y). Throws Error unless rho > 0 and finite.
  void Solve(Scalar rho, ConstMatRef<Scalar> y, MatRef<Scalar> out) const;
};

struct AdmmLayerConfig {
  bool learn_relaxation = false;  // true: "alpha" is a learned block; false: alpha = 1
  bool IsValid(std::string* error) const;
};

template <typename Scalar>
class AdmmLayer final : public Operator<Scalar> {
 public:
  using FactorizationPtr = std::shared_ptr<const AdmmFactorization<Scalar>>;

  // Eigendecomposition of A^T A for a (m x n, non-empty, finite); O(n^3) once
  // per matrix. Share the result between all layers of a network.
  static FactorizationPtr Factorize(const MatrixX<Scalar>& a);

  // rho0 > 0, theta0 >= 0, alpha0 in (0, 2) (all finite). Without
  // config.learn_relaxation, alpha0 must be 1 (alpha is then fixed at 1).
  AdmmLayer(FactorizationPtr factorization, double rho0, double theta0, double alpha0 = 1.0,
            const AdmmLayerConfig& config = {});

  // The layer that is exactly one ADMM iteration for the LASSO with weight
  // lambda and penalty rho: theta = lambda / rho, no relaxation.
  static std::unique_ptr<AdmmLayer> ForLasso(FactorizationPtr factorization, double lambda, double rho);

  std::string name() const override { return "admm_layer"; }
  // 2n: the stacked [z; u].
  Index state_dim() const override { return 2 * factorization_->cols(); }
  Index input_dim() const override { return factorization_->rows(); }
  Index signal_dim() const { return factorization_->cols(); }

  // out = [z+; u+]. state: 2n x B, b: m x B, out: 2n x B (pre-sized).
  // Throws Error if rho <= 0 (e.g. a learned rho pushed out of range).
  void Forward(ConstMatRef<Scalar> state, ConstMatRef<Scalar> b, MatRef<Scalar> out) const override;
  // Keeps the state (for z - u and x+ - z), x+, the threshold input v and the
  // value: memory O(6 n B).
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> state,
                                                   ConstMatRef<Scalar> b) const override;

  Scalar rho() const { return std::exp(this->parameters_.Block(rho_)(0, 0)); }
  Scalar theta() const { return this->parameters_.Block(theta_)(0, 0); }
  // The learned alpha, or 1 without learn_relaxation.
  Scalar alpha() const;
  const AdmmFactorization<Scalar>& factorization() const { return *factorization_; }
  const FactorizationPtr& shared_factorization() const { return factorization_; }
  const AdmmLayerConfig& config() const { return config_; }

 private:
  class Lin;
  // Given state [z; u] and b, fills x+ (n x B), v = xh + u (n x B) and
  // out = [soft(v, theta); v - soft(v, theta)] (2n x B).
  void Evaluate(ConstMatRef<Scalar> state, ConstMatRef<Scalar> b, MatRef<Scalar> x_plus,
                MatRef<Scalar> v, MatRef<Scalar> out) const;

  FactorizationPtr factorization_;
  AdmmLayerConfig config_;
  Index rho_ = 0, theta_ = 0, alpha_ = -1;
};

}  // namespace implicit
