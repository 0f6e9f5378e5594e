// Monotone operator equilibrium network cell (monDEQ): Winston & Kolter,
// "Monotone operator equilibrium networks", NeurIPS 2020.
//
// The equilibrium the model defines is
//   z* = relu(W z* + U x + c),                                           (1)
//   W  = (1 - m) I - B^T B + C - C^T,                                    (2)
// (the paper's parametrisation W = (1 - m) I - A^T A + B - B^T, with its A, B
// renamed B, C here because A is the measurement matrix elsewhere in this
// project).
// For any B, C the symmetric part of I - W is m I + B^T B >= m I (C - C^T is
// skew and drops out), so F(z) = (I - W) z - (U x + c) is m-strongly
// monotone; relu is the proximal map of the indicator of the non-negative
// orthant, so (1) is the monotone inclusion 0 in F(z) + N_{z>=0}(z), which has
// exactly one solution (paper, Sec. 3).
//
// Plain iteration of (1) need not converge (W may have spectral norm > 1), so
// the map this Operator exposes is ONE forward-backward splitting step (the
// paper's Sec. 4, "Forward-backward splitting"):
//   f(z; x) = relu(z - alpha F(z)) = relu((1 - alpha) z + alpha (W z + U x + c)).   (3)
// For any alpha > 0 its fixed points are exactly the solutions of (1) (a
// fixed point of prox(z - alpha F z) is a zero of F + N, for every alpha).
// With L = ||I - W||_2, z -> z - alpha F(z) is Lipschitz with constant
// sqrt(1 - 2 alpha m + alpha^2 L^2), which is < 1 for 0 < alpha < 2 m / L^2;
// relu is non-expansive, so f is then a contraction and damped / Anderson
// fixed-point solvers converge (at alpha = 2 m / L^2 it is only
// non-expansive). ContractionAlphaBound() returns 2 m / L^2; alpha is a
// hyperparameter to be set below it (it cannot be checked at configuration
// time because L depends on the learned B and C).
//
// Why the monotone parametrisation rather than spectral normalisation of W
// (||W||_2 < 1, the other classical route to a well-posed DEQ):
//  * The gradient of a spectral norm goes through the top singular vectors
//    (d sigma_max = u^T dW v): non-smooth where sigma_max is repeated and
//    usually approximated by a few power-iteration steps, so the VJP is awkward
//    and inexact.
//  * ||W|| < 1 only covers the contraction case; (2) gives existence AND
//    uniqueness by construction for EVERY B, C (a strictly larger class: W may
//    have norm > 1), with no projection step after an optimiser update.
//  * W is a polynomial (degree 2) in B and C, so the parameter VJPs are exact
//    matrix products (see below).
//
// Shapes (one sample per column; "batch" is the number of samples, not the block B):
//   state z: state_dim x batch (n), input x: input_dim x batch (p).
// Learned blocks: "B" n x n, "C" n x n, "U" n x p, "c" n x 1.
// m (monotonicity_m) and alpha are hyperparameters, not learned.
//
// VJPs, with u = (1 - alpha) z + alpha (W z + U x + c), D = 1[u > 0] (relu'
// taken as 0 at the kink), gu = g .* D, G = alpha gu z^T (n x n, dL/dW):
//   grad_z  = ((1 - alpha) I + alpha W)^T gu                       ASSIGNS
//   grad_x += alpha U^T gu                                          ACCUMULATES
//   grad_U += alpha gu x^T,   grad_c += alpha gu 1                  ACCUMULATE
//   grad_C += G - G^T           (W is linear in C - C^T)
//   grad_B += -B (G + G^T)      (d(-B^T B) = -(dB^T B + B^T dB))
#pragma once

#include "core/operator.hpp"
#include "core/types.hpp"

#include <string>

namespace implicit {

struct MonotoneCellConfig {
  Index state_dim = 0;            // n
  Index input_dim = 0;            // p
  double monotonicity_m = 0.5;    // m > 0 in I - W >= m I (hyperparameter, not learned)
  double alpha = 0.1;             // forward-backward step (hyperparameter, not learned)
  bool IsValid(std::string* error) const;
};

template <typename Scalar>
class MonotoneCell final : public Operator<Scalar> {
 public:
  explicit MonotoneCell(const MonotoneCellConfig& config);
  std::string name() const override { return "monotone_cell"; }
  Index state_dim() const override { return config_.state_dim; }
  Index input_dim() const override { return config_.input_dim; }

  // out = f(z; x), eq. (3). z: n x batch, x: p x batch, out: n x batch (pre-sized).
  void Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, MatRef<Scalar> out) const override;
  // Keeps z, x, the pre-activation u (for the relu mask) and the n x n matrix
  // ((1 - alpha) I + alpha W)^T, so each VjpState (the DEQ backward applies
  // many at z*) is one n x n by n x batch product. Memory O(n^2 + (n + p) batch).
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z,
                                                   ConstMatRef<Scalar> x) const override;

  Eigen::Map<MatrixX<Scalar>> B() { return this->parameters_.Block(block_b_); }
  Eigen::Map<MatrixX<Scalar>> C() { return this->parameters_.Block(block_c_); }
  Eigen::Map<MatrixX<Scalar>> U() { return this->parameters_.Block(block_u_); }
  Eigen::Map<MatrixX<Scalar>> c() { return this->parameters_.Block(block_bias_); }
  Eigen::Map<const MatrixX<Scalar>> B() const { return this->parameters_.Block(block_b_); }
  Eigen::Map<const MatrixX<Scalar>> C() const { return this->parameters_.Block(block_c_); }
  Eigen::Map<const MatrixX<Scalar>> U() const { return this->parameters_.Block(block_u_); }
  Eigen::Map<const MatrixX<Scalar>> c() const { return this->parameters_.Block(block_bias_); }
  const MonotoneCellConfig& config() const { return config_; }

  // W = (1 - m) I - B^T B + C - C^T, n x n (eq. 2). O(n^3).
  MatrixX<Scalar> W() const;
  // 2 m / ||I - W||_2^2 (largest singular value by a dense SVD in double:
  // O(n^3), meant for small n and for occasional calls, e.g. after an
  // optimiser step, not per iteration). f is a contraction for
  // 0 < alpha < this bound.
  double ContractionAlphaBound() const;
  // Changes the forward-backward step (e.g. to 0.9 * ContractionAlphaBound()
  // after the parameters changed). Throws Error unless alpha > 0 and finite.
  void set_alpha(double alpha);

  // B, C, U i.i.d. N(0, scale^2) (column-major, in the order B, C, U, so a run
  // is reproducible from the seed); c = 0.
  void InitializeRandom(Rng& rng, double scale = 0.1);

 private:
  class Lin;
  // u = (1 - alpha) z + alpha (W z + U x + c), computed without forming W:
  // (1 - alpha m) z - alpha B^T (B z) + alpha (C - C^T) z + alpha (U x + c),
  // i.e. O(n^2 batch) instead of O(n^3). u pre-sized n x batch.
  void PreActivation(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, MatRef<Scalar> u) const;

  MonotoneCellConfig config_;
  Index block_b_ = 0, block_c_ = 0, block_u_ = 0, block_bias_ = 0;
};

}  // namespace implicit
