// LISTA layer (Gregor & LeCun, "Learning Fast Approximations of Sparse
// Coding", ICML 2010), untied form as in the seed article and in
// Chen et al. (NeurIPS 2018):
//
//   z_next = soft(W1 b + W2 z, theta)
//
// Shapes: state z: n x B (sparse code), input b: m x B (measurements).
// Parameter blocks: "W1" n x m, "W2" n x n, "theta" n x 1 (one threshold per
// coordinate, the seed article) or 1 x 1 (one per layer, Chen et al.).
// With config.support_percent > 0 the threshold selects support (LISTA-SS,
// Chen, Liu, Wang, Yin, NeurIPS 2018).
#pragma once

#include "core/operator.hpp"
#include "core/prox.hpp"
#include "core/types.hpp"

namespace implicit {

struct ListaLayerConfig {
  Index signal_dim = 0;                 // n
  Index measurement_dim = 0;            // m
  bool per_coordinate_threshold = true; // theta n x 1 (true) or 1 x 1 (false)
  // > 0: support selection with this percentage (LISTA-SS, core/prox.hpp).
  double support_percent = 0.0;
  bool IsValid(std::string* error) const;
};

template <typename Scalar>
class ListaLayer final : public Operator<Scalar> {
 public:
  explicit ListaLayer(const ListaLayerConfig& config);
  std::string name() const override { return "lista_layer"; }
  Index state_dim() const override { return config_.signal_dim; }
  Index input_dim() const override { return config_.measurement_dim; }
  void Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, MatRef<Scalar> out) const override;
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z,
                                                   ConstMatRef<Scalar> x) const override;

  Eigen::Map<MatrixX<Scalar>> W1() { return this->parameters_.Block(w1_); }
  Eigen::Map<MatrixX<Scalar>> W2() { return this->parameters_.Block(w2_); }
  Eigen::Map<MatrixX<Scalar>> theta() { return this->parameters_.Block(theta_); }
  Eigen::Map<const MatrixX<Scalar>> W1() const { return this->parameters_.Block(w1_); }
  Eigen::Map<const MatrixX<Scalar>> W2() const { return this->parameters_.Block(w2_); }
  Eigen::Map<const MatrixX<Scalar>> theta() const { return this->parameters_.Block(theta_); }
  const ListaLayerConfig& config() const { return config_; }

  // The seed article's initialisation: W1, W2 ~ weight_std * N(0,1), theta = theta0.
  void InitializeRandom(Rng& rng, double weight_std = 0.1, double theta0 = 0.01);
  // ISTA's values (Gregor & LeCun): W1 = A^T / L, W2 = I - A^T A / L, theta = lambda / L.
  // With these, the layer IS one ISTA iteration.
  void InitializeFromIsta(ConstMatRef<Scalar> a, double lipschitz, double lambda);

 private:
  class Lin;
  // u = W1 b + W2 z (the pre-activation), u pre-sized n x B.
  void PreActivation(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b, MatRef<Scalar> u) const;
  ListaLayerConfig config_;
  ThresholdPolicy<Scalar> threshold_;
  Index w1_ = 0, w2_ = 0, theta_ = 0;
};

}  // namespace implicit
