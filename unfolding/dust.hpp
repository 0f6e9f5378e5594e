// DUST-style layer: one unfolded iteration of side-information sparse coding
// for a whole sequence, with the side information produced by attention
// between the frames (De Weerdt, Eldar, Deligiannis, "Deep Unfolding
// Transformers for Sparse Recovery of Video", IEEE TSP 72, 2024).
//
// Per sample (one column = one sequence of T frames, frame-major):
//   state z = [z_1; ...; z_T]  (N*T),   input b = [b_1; ...; b_T]  (M*T)
//   S   = SideInformation(Z)                       unfolding/attention.hpp (attention over the
//                                                  frames, or the previous frame only)
//   r_t = b_t - A z_t                              (M)
//   u_t = z_t + gamma W r_t                        (N)   W learned (LISTA-CP) or fixed (ALISTA)
//   f_t = P_{theta1, theta2}(u_t; s_t)             (N)   the l1-l1 prox (core/prox_l1l1.hpp)
// i.e. a proximal-gradient step on
//   sum_t 1/2 ||b_t - A x_t||^2 + lambda1 ||x_t||_1 + lambda2 ||x_t - s_t||_1
// with learned per-layer step gamma and thresholds theta1 = gamma lambda1,
// theta2 = gamma lambda2 (negative thresholds act as 0). theta2 -> 0 switches
// the side information off, which is how the model can learn to ignore it.
//
// Shapes: A M x N (fixed, shared between layers by shared_ptr), W N x M.
// Parameter blocks: the attention's ("Wq<h>", "Wk<h>", "Wv<h>", or "Wv0"),
// then "W" N x M (if learn_weight), "gamma", "theta1", "theta2" (1 x 1 each).
// Stack K of them in UnrolledNetwork (untied) or wrap one in DeqModel.
#pragma once

#include "core/operator.hpp"
#include "core/types.hpp"
#include "unfolding/attention.hpp"

#include <memory>

namespace implicit {

struct DustLayerConfig {
  Index signal_dim = 0;       // N
  Index measurement_dim = 0;  // M
  Index frames = 0;           // T
  SideInformation side_information = SideInformation::kAttention;
  Index heads = 1;            // attention heads (kAttention)
  Index key_dim = 16;         // query/key size d (kAttention)
  bool exclude_self = true;   // s_t from the other frames only
  bool token_norm = true;     // RMS token normalisation before queries/keys
  bool learn_weight = true;   // false: W fixed (ALISTA's analytic weight)
  bool IsValid(std::string* error) const;
  SequenceAttentionConfig AttentionConfig() const;
};

template <typename Scalar>
class DustLayer final : public Operator<Scalar> {
 public:
  using MatrixPtr = std::shared_ptr<const MatrixX<Scalar>>;
  // a: M x N. weight: N x M, the initial (learned) or fixed W. theta1, theta2:
  // initial thresholds; gamma: initial step.
  DustLayer(MatrixPtr a, const MatrixX<Scalar>& weight, double gamma, double theta1, double theta2,
            const DustLayerConfig& config);

  std::string name() const override { return "dust_layer"; }
  Index state_dim() const override { return config_.signal_dim * config_.frames; }
  Index input_dim() const override { return config_.measurement_dim * config_.frames; }
  void Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, MatRef<Scalar> out) const override;
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z,
                                                   ConstMatRef<Scalar> x) const override;

  // Attention initialisation (SequenceAttention::Initialize).
  void InitializeAttention(Rng& rng, double logit_scale = 5.0, double value_scale = 1.0);

  Eigen::Map<const MatrixX<Scalar>> W() const;
  Scalar gamma() const { return this->parameters_.Block(gamma_)(0, 0); }
  Scalar theta1() const { return this->parameters_.Block(theta1_)(0, 0); }
  Scalar theta2() const { return this->parameters_.Block(theta2_)(0, 0); }
  const MatrixX<Scalar>& A() const { return *a_; }
  const DustLayerConfig& config() const { return config_; }

 private:
  class Lin;
  struct Work {  // frames layout: N x (T*B) or M x (T*B)
    MatrixX<Scalar> z, b, r, wr, u, s, value, region;
    typename SequenceAttention<Scalar>::Cache attention;
  };
  // Fills work from (z, x); region/attention cache only when linearising.
  void Evaluate(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, Work& work, bool keep) const;

  MatrixPtr a_;
  MatrixX<Scalar> fixed_weight_;
  DustLayerConfig config_;
  SequenceAttention<Scalar> attention_;
  Index weight_ = -1, gamma_ = 0, theta1_ = 0, theta2_ = 0;
};

}  // namespace implicit
