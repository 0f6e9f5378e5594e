// An unrolled network: K operator layers applied in sequence,
//   z_0 given (usually 0),  z_k = f_k(z_{k-1}; x),  output z_K.
// Untied: K distinct operators (e.g. LISTA with per-layer W1, W2, theta).
// Tied: one operator applied K times (the finite-depth twin of a DEQ).
//
// The network is itself an Operator with state z_0 and input x, so it is
// gradient-checked by the same utility and can be nested. Its parameters are
// one flat vector: every layer's ParameterSet is bound to a segment of it
// (blocks named "layer<k>.<block>" untied, "<block>" tied).
//
// Memory: Forward keeps nothing; Linearize keeps the K layer linearisations
// (O(K * state_dim * B), "backprop through stored layers"), and the VJPs
// run them backwards layer by layer.
#pragma once

#include "core/operator.hpp"
#include "core/types.hpp"

#include <memory>
#include <vector>

namespace implicit {

template <typename Scalar>
class UnrolledNetwork final : public Operator<Scalar> {
 public:
  // Untied: takes ownership of K >= 1 layers with equal state/input dims.
  explicit UnrolledNetwork(std::vector<std::unique_ptr<Operator<Scalar>>> layers);
  // Untied layers that SHARE the blocks named in shared_blocks (e.g. {"W"}
  // for TiLISTA: one W, per-layer step sizes and thresholds). The network
  // holds each shared block once ("<block>", layer 0's initial value); the
  // other blocks are per layer ("layer<k>.<block>").
  UnrolledNetwork(std::vector<std::unique_ptr<Operator<Scalar>>> layers,
                  const std::vector<std::string>& shared_blocks);
  // Tied: one operator applied `depth` >= 1 times.
  UnrolledNetwork(std::unique_ptr<Operator<Scalar>> shared_layer, Index depth);

  // The network binds its layers to its own parameter storage; it must not
  // be copied, and moving it would be fine but is not needed.
  UnrolledNetwork(const UnrolledNetwork&) = delete;
  UnrolledNetwork& operator=(const UnrolledNetwork&) = delete;

  std::string name() const override;
  Index state_dim() const override { return layers_.front()->state_dim(); }
  Index input_dim() const override { return layers_.front()->input_dim(); }
  Index depth() const { return depth_; }
  // Layers actually applied by Forward/Linearize (default: depth()); the
  // stage-wise schedule grows it one layer at a time.
  Index active_depth() const { return active_depth_; }
  void set_active_depth(Index depth);
  bool tied() const { return tied_; }
  // The operator applied at step k (0-based); the same object for all k if tied.
  Operator<Scalar>& layer(Index k);
  const Operator<Scalar>& layer(Index k) const;
  // Offset of layer k's parameters inside parameters().Flat() (contiguous
  // layouts only: throws when blocks are shared).
  Index parameter_offset(Index k) const;
  // Indices into parameters().Flat() of layer k's parameters (all of its
  // blocks, shared ones included), and of those it introduced (a shared
  // block belongs to the first layer that uses it).
  std::vector<Index> LayerParameterIndices(Index k) const;
  std::vector<Index> IntroducedParameterIndices(Index k) const;

  // out = z_K. z0: state_dim x B, x: input_dim x B.
  void Forward(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x, MatRef<Scalar> out) const override;
  // Also returns every layer's output z_1..z_K (for NMSE-vs-layer curves).
  void ForwardAllLayers(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x,
                        std::vector<MatrixX<Scalar>>& layer_outputs) const;

  // Keeps all K layer linearisations; its VJPs backpropagate through them.
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z0,
                                                   ConstMatRef<Scalar> x) const override;

 private:
  class Tape;
  void BindLayerParameters(const std::vector<std::string>& shared_blocks);
  std::vector<std::unique_ptr<Operator<Scalar>>> layers_;  // K (untied) or 1 (tied)
  std::vector<Index> offsets_;                             // per entry of layers_ (contiguous layouts)
  // Per entry of layers_, per block: offset of that block in the network's flat vector.
  std::vector<std::vector<Index>> block_offsets_;
  std::vector<std::vector<bool>> block_introduced_;        // block first declared by this layer
  Index depth_ = 0;
  Index active_depth_ = 0;
  bool tied_ = false;
  bool shares_blocks_ = false;
};

}  // namespace implicit
