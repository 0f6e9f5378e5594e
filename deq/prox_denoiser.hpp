// Proximal gradient with a learned denoiser, in the style of the DEQ-PG
// model of Gilton, Ongie & Willett, "Deep Equilibrium Architectures for
// Inverse Problems in Imaging", IEEE Trans. Computational Imaging 2021:
//
//   v        = z - eta A^T (A z - b)                  gradient step on 1/2 ||A z - b||^2
//   f(z; b)  = R(v),  R(v) = v + W2 relu(W1 v + b1) + b2      learned "proximal" map
//
// R replaces the proximal operator of a regulariser (for the LASSO it would
// be the soft threshold, and f would be one ISTA step). The paper's R is a
// CNN; here it is a one-hidden-layer residual MLP so that small problems
// (n ~ 10..1000) can be gradient-checked and trained on a CPU. The residual
// form makes W2 = 0, b2 = 0 an exact identity, so a small W2 at
// initialisation starts the model at plain gradient descent.
//
// The same class serves both uses of the Operator contract: applied K times
// (UnrolledNetwork, tied or untied) it is an unrolled proximal-gradient
// network; as a fixed-point map, z* = f(z*; b) is the DEQ-PG equilibrium.
// A contraction is NOT guaranteed: the gradient step is non-expansive for
// 0 < eta <= 2 / ||A||_2^2 (and only non-expansive on the null space of A),
// and R is (1 + ||W2||_2 ||W1||_2)-Lipschitz; Gilton et al. discuss the
// conditions. DEQ solvers should use damping / Anderson acceleration and
// check their residual.
//
// Shapes (one sample per column): A m x n (fixed, not learned), state z: n x B,
// input b: m x B, hidden width h = config.hidden_dim.
// Learned blocks: "eta" 1 x 1 (only if learn_step; otherwise eta is the fixed
// constructor value), "W1" h x n, "b1" h x 1, "W2" n x h, "b2" n x 1.
//
// VJPs (derived in docs/ADDING_AN_OPERATOR.md), with r = A z - b (m x B),
// pre-activation p = W1 v + b1 1^T (h x B), a = relu(p), D = 1[p > 0]:
//   gp = D .* (W2^T g),  gv = g + W1^T gp                    (through R)
//   grad_z  = gv - eta A^T (A gv)                             ASSIGNS
//   grad_b += eta A gv                                        ACCUMULATES
//   grad_W2 += g a^T,  grad_b2 += g 1,  grad_W1 += gp v^T,  grad_b1 += gp 1,
//   grad_eta += -sum(r .* (A gv))                             ACCUMULATE
#pragma once

#include "core/operator.hpp"
#include "core/types.hpp"

#include <string>

namespace implicit {

struct ProxGradientDenoiserConfig {
  Index hidden_dim = 32;  // h, width of R's hidden layer
  bool learn_step = true; // eta is a learned 1 x 1 block (true) or fixed (false)
  bool IsValid(std::string* error) const;
};

template <typename Scalar>
class ProxGradientDenoiser final : public Operator<Scalar> {
 public:
  // a: m x n measurement matrix (copied; must be non-empty and finite).
  // initial_step: eta at construction (and after InitializeRandom), usually
  // 1 / ||A||_2^2 (e.g. 1 / EstimateLipschitz(a)); must be > 0. It is the
  // fixed step if !config.learn_step. All other blocks start at zero, so
  // until InitializeRandom the operator is exactly one gradient step.
  ProxGradientDenoiser(const MatrixX<Scalar>& a, const ProxGradientDenoiserConfig& config,
                       double initial_step);

  std::string name() const override { return "prox_gradient_denoiser"; }
  Index state_dim() const override { return a_.cols(); }
  Index input_dim() const override { return a_.rows(); }

  // out = R(z - eta A^T (A z - b)). z: n x B, b: m x B, out: n x B (pre-sized).
  void Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b, MatRef<Scalar> out) const override;
  // Keeps r = A z - b (for d/deta), v (for d/dW1), the hidden activation
  // a = relu(p) (for d/dW2; its support a > 0 is the relu mask D) and the value.
  // Memory O((m + 2n + h) B).
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z,
                                                   ConstMatRef<Scalar> b) const override;

  Eigen::Map<MatrixX<Scalar>> W1() { return this->parameters_.Block(block_w1_); }
  Eigen::Map<MatrixX<Scalar>> b1() { return this->parameters_.Block(block_b1_); }
  Eigen::Map<MatrixX<Scalar>> W2() { return this->parameters_.Block(block_w2_); }
  Eigen::Map<MatrixX<Scalar>> b2() { return this->parameters_.Block(block_b2_); }
  Eigen::Map<const MatrixX<Scalar>> W1() const { return this->parameters_.Block(block_w1_); }
  Eigen::Map<const MatrixX<Scalar>> b1() const { return this->parameters_.Block(block_b1_); }
  Eigen::Map<const MatrixX<Scalar>> W2() const { return this->parameters_.Block(block_w2_); }
  Eigen::Map<const MatrixX<Scalar>> b2() const { return this->parameters_.Block(block_b2_); }
  // The current step eta (the learned block, or the fixed value).
  Scalar step() const;
  // Sets eta (the learned block, or the fixed value). Throws unless > 0 and finite.
  void set_step(double eta);
  bool learns_step() const { return config_.learn_step; }
  const MatrixX<Scalar>& matrix() const { return a_; }
  const ProxGradientDenoiserConfig& config() const { return config_; }

  // W1 i.i.d. N(0, scale^2 / n) (fan-in scaling, so W1 v has O(scale) entries
  // for O(1) v), W2 i.i.d. N(0, (residual_scale)^2 / h) with residual_scale
  // small (R starts near the identity), b1 = b2 = 0, eta = initial_step.
  // Drawn column-major in the order W1, W2 (reproducible from the seed).
  void InitializeRandom(Rng& rng, double scale = 1.0, double residual_scale = 1e-2);

 private:
  class Lin;
  // v = z - eta A^T (A z - b); also returns r = A z - b. v: n x B, r: m x B.
  void GradientStep(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b, MatRef<Scalar> v,
                    MatRef<Scalar> r) const;
  // p = W1 v + b1 1^T (h x B); out = v + W2 relu(p) + b2 1^T (n x B).
  // Leaves relu(p) in p.
  void Denoise(ConstMatRef<Scalar> v, MatRef<Scalar> p, MatRef<Scalar> out) const;

  MatrixX<Scalar> a_;
  ProxGradientDenoiserConfig config_;
  double initial_step_;
  Scalar fixed_step_;  // used when !config_.learn_step
  Index block_eta_ = -1, block_w1_ = 0, block_b1_ = 0, block_w2_ = 0, block_b2_ = 0;
};

}  // namespace implicit
