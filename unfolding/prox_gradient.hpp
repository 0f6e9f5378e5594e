// Learned proximal-gradient layer (LISTA-CP / ALISTA form):
//
//   z_next = soft(z + gamma * W (b - A z), theta)
//
// Chen, Liu, Wang, Yin, "Theoretical Linear Convergence of Unfolded ISTA and
// its Practical Weights and Thresholds", NeurIPS 2018 (LISTA-CP: the coupling
// W2 = I - W A), and Liu, Chen, Wang, Yin, "ALISTA", ICLR 2019 (W fixed by
// analysis, only gamma and theta learned). Tied and solved to its fixed point
// it is the sparse-recovery DEQ operator.
//
// With config.support_percent > 0 the threshold is soft thresholding with
// support selection (LISTA-CPSS / TiLISTA / ALISTA).
//
// Shapes: state z: n x B, input b: m x B, A: m x n (fixed, shared between
// layers through a shared_ptr). Parameter blocks: "W" n x m (only if
// learn_weight; otherwise W is a fixed matrix), "gamma" 1 x 1, "theta" 1 x 1.
#pragma once

#include "core/operator.hpp"
#include "core/prox.hpp"
#include "core/types.hpp"

#include <memory>

namespace implicit {

struct ProxGradientConfig {
  bool learn_weight = true;  // false: ALISTA-style analytic W, only gamma, theta learned
  // > 0: support selection with this percentage (LISTA-CPSS, TiLISTA, ALISTA).
  double support_percent = 0.0;
  bool IsValid(std::string* error) const;
};

template <typename Scalar>
class ProxGradientLayer final : public Operator<Scalar> {
 public:
  using MatrixPtr = std::shared_ptr<const MatrixX<Scalar>>;
  // a: m x n. weight: n x m, the initial W (learned) or the fixed W.
  ProxGradientLayer(MatrixPtr a, const MatrixX<Scalar>& weight, double gamma, double theta,
                    const ProxGradientConfig& config = {});

  std::string name() const override { return "prox_gradient"; }
  Index state_dim() const override { return a_->cols(); }
  Index input_dim() const override { return a_->rows(); }
  void Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, MatRef<Scalar> out) const override;
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z,
                                                   ConstMatRef<Scalar> x) const override;

  // The current W (n x m): the learned block or the fixed matrix.
  Eigen::Map<const MatrixX<Scalar>> W() const;
  Scalar gamma() const { return this->parameters_.Block(gamma_)(0, 0); }
  Scalar theta() const { return this->parameters_.Block(theta_)(0, 0); }
  const MatrixX<Scalar>& A() const { return *a_; }
  const ProxGradientConfig& config() const { return config_; }

 private:
  class Lin;
  // r = b - A z (m x B), wr = W r (n x B), u = z + gamma wr (n x B).
  void Evaluate(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b, MatrixX<Scalar>& r, MatrixX<Scalar>& wr,
                MatRef<Scalar> u) const;
  MatrixPtr a_;
  MatrixX<Scalar> fixed_weight_;  // used when !learn_weight
  ProxGradientConfig config_;
  ThresholdPolicy<Scalar> threshold_;
  Index weight_ = -1, gamma_ = 0, theta_ = 0;
};

}  // namespace implicit
