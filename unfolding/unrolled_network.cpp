#include "unfolding/unrolled_network.hpp"

#include <algorithm>

namespace implicit {

// The stored forward pass: layer k's linearisation at (z_{k-1}, x).
template <typename Scalar>
class UnrolledNetwork<Scalar>::Tape final : public Linearization<Scalar> {
 public:
  Tape(const UnrolledNetwork& net, std::vector<std::unique_ptr<Linearization<Scalar>>> layers)
      : net_(net), layers_(std::move(layers)) {}

  const MatrixX<Scalar>& Value() const override { return layers_.back()->Value(); }

  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    Backward(g, &grad_state, nullptr, nullptr);
  }
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    Backward(g, nullptr, &grad_input, nullptr);
  }
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    Backward(g, nullptr, nullptr, &grad_params);
  }

  // One backward sweep producing any subset of the three gradients
  // (null = not wanted): grad_state assigned, the others accumulated.
  void Backward(ConstMatRef<Scalar> g, MatRef<Scalar>* grad_state, MatRef<Scalar>* grad_input,
                VecRef<Scalar>* grad_params) const {
    const Index n = net_.state_dim();
    const Index batch = g.cols();
    RequireShape(g, n, Value().cols(), net_.name() + " cotangent");
    if (grad_params != nullptr && grad_params->size() != net_.parameters().size()) {
      throw Error(net_.name() + ": parameter gradient has " + std::to_string(grad_params->size()) +
                  " entries, expected " + std::to_string(net_.parameters().size()));
    }
    MatrixX<Scalar> current = g;  // dL/dz_k
    MatrixX<Scalar> previous(n, batch);
    VectorX<Scalar> layer_grad;
    const Index depth = static_cast<Index>(layers_.size());
    for (Index k = depth - 1; k >= 0; --k) {
      const Linearization<Scalar>& lin = *layers_[static_cast<size_t>(k)];
      if (grad_params != nullptr) {
        const Operator<Scalar>& op = net_.layer(k);
        if (!net_.shares_blocks_) {
          const Index offset = net_.parameter_offset(k);
          lin.VjpParams(current, grad_params->segment(offset, op.parameters().size()));
        } else {
          // Shared blocks: the layer's gradient in its own layout, then
          // scattered (added) block by block into the network's layout.
          layer_grad.setZero(op.parameters().size());
          lin.VjpParams(current, layer_grad);
          const std::vector<Index>& offsets = net_.block_offsets_[static_cast<size_t>(k)];
          const auto& blocks = op.parameters().blocks();
          for (size_t i = 0; i < blocks.size(); ++i) {
            grad_params->segment(offsets[i], blocks[i].size()) += layer_grad.segment(blocks[i].offset, blocks[i].size());
          }
        }
      }
      if (grad_input != nullptr) lin.VjpInput(current, *grad_input);
      // z_0's cotangent is needed only when asked for.
      if (k > 0 || grad_state != nullptr) {
        lin.VjpState(current, previous);
        current.swap(previous);
      }
    }
    if (grad_state != nullptr) *grad_state = current;
  }

 private:
  const UnrolledNetwork& net_;
  std::vector<std::unique_ptr<Linearization<Scalar>>> layers_;
};

template <typename Scalar>
UnrolledNetwork<Scalar>::UnrolledNetwork(std::vector<std::unique_ptr<Operator<Scalar>>> layers)
    : UnrolledNetwork(std::move(layers), std::vector<std::string>{}) {}

template <typename Scalar>
UnrolledNetwork<Scalar>::UnrolledNetwork(std::vector<std::unique_ptr<Operator<Scalar>>> layers,
                                         const std::vector<std::string>& shared_blocks)
    : layers_(std::move(layers)), depth_(static_cast<Index>(layers_.size())), tied_(false) {
  if (layers_.empty()) throw Error("unrolled network: needs at least one layer");
  for (size_t k = 0; k < layers_.size(); ++k) {
    if (!layers_[k]) throw Error("unrolled network: layer " + std::to_string(k) + " is null");
    if (layers_[k]->state_dim() != layers_[0]->state_dim() ||
        layers_[k]->input_dim() != layers_[0]->input_dim()) {
      throw Error("unrolled network: layer " + std::to_string(k) +
                  " has different state/input dimensions from layer 0");
    }
  }
  BindLayerParameters(shared_blocks);
}

template <typename Scalar>
UnrolledNetwork<Scalar>::UnrolledNetwork(std::unique_ptr<Operator<Scalar>> shared_layer, Index depth)
    : depth_(depth), tied_(true) {
  if (!shared_layer) throw Error("unrolled network: shared layer is null");
  if (depth < 1) throw Error("unrolled network: depth must be >= 1");
  layers_.push_back(std::move(shared_layer));
  BindLayerParameters({});
}

template <typename Scalar>
void UnrolledNetwork<Scalar>::BindLayerParameters(const std::vector<std::string>& shared_blocks) {
  active_depth_ = depth_;
  shares_blocks_ = !shared_blocks.empty();
  // Declare every block in the network's set: per-layer blocks as
  // "layer<k>.<name>" (or "<name>" when tied), shared blocks once.
  std::vector<std::pair<std::string, Index>> shared_index;  // name -> network block index
  std::vector<std::vector<Index>> network_block(layers_.size());
  for (size_t k = 0; k < layers_.size(); ++k) {
    offsets_.push_back(this->parameters_.size());
    block_introduced_.emplace_back();
    for (const ParameterBlockInfo& b : layers_[k]->parameters().blocks()) {
      const bool shared = std::find(shared_blocks.begin(), shared_blocks.end(), b.name) != shared_blocks.end();
      Index index = -1;
      if (shared) {
        for (const auto& [name, i] : shared_index) {
          if (name == b.name) index = i;
        }
        if (index >= 0) {
          const ParameterBlockInfo& existing = this->parameters_.info(index);
          if (existing.rows != b.rows || existing.cols != b.cols) {
            throw Error("unrolled network: shared block '" + b.name + "' has different shapes in different layers");
          }
        }
      }
      block_introduced_.back().push_back(index < 0);
      if (index < 0) {
        const std::string prefix = (tied_ || shared) ? "" : "layer" + std::to_string(k) + ".";
        index = this->parameters_.AddBlock(prefix + b.name, b.rows, b.cols);
        if (shared) shared_index.emplace_back(b.name, index);
      }
      network_block[k].push_back(index);
    }
  }
  for (const std::string& name : shared_blocks) {
    bool found = false;
    for (const auto& entry : shared_index) found = found || entry.first == name;
    if (!found) throw Error("unrolled network: no layer has a block named '" + name + "' to share");
  }
  // Bind: contiguous segments when nothing is shared, block by block otherwise.
  for (size_t k = 0; k < layers_.size(); ++k) {
    ParameterSet<Scalar>& layer_params = layers_[k]->parameters();
    block_offsets_.emplace_back();
    std::vector<Scalar*> storage;
    for (size_t i = 0; i < network_block[k].size(); ++i) {
      const Index offset = this->parameters_.info(network_block[k][i]).offset;
      block_offsets_.back().push_back(offset);
      storage.push_back(this->parameters_.Flat().data() + offset);
      // A shared block keeps the value of the layer that introduced it.
      if (!block_introduced_[k][i]) {
        layer_params.Block(static_cast<Index>(i)) = this->parameters_.Block(network_block[k][i]);
      }
    }
    if (shares_blocks_) {
      layer_params.BindBlocks(storage);
    } else {
      layer_params.BindTo(this->parameters_.Flat().data() + offsets_[k]);
    }
  }
}

template <typename Scalar>
void UnrolledNetwork<Scalar>::set_active_depth(Index depth) {
  if (depth < 1 || depth > depth_) {
    throw Error("unrolled network: active depth must be in [1, " + std::to_string(depth_) + "], got " +
                std::to_string(depth));
  }
  active_depth_ = depth;
}

template <typename Scalar>
std::vector<Index> UnrolledNetwork<Scalar>::LayerParameterIndices(Index k) const {
  if (k < 0 || k >= depth_) throw Error("unrolled network: layer index out of range");
  const size_t entry = tied_ ? 0 : static_cast<size_t>(k);
  std::vector<Index> indices;
  const auto& blocks = layers_[entry]->parameters().blocks();
  for (size_t i = 0; i < blocks.size(); ++i) {
    for (Index j = 0; j < blocks[i].size(); ++j) indices.push_back(block_offsets_[entry][i] + j);
  }
  return indices;
}

template <typename Scalar>
std::vector<Index> UnrolledNetwork<Scalar>::IntroducedParameterIndices(Index k) const {
  if (k < 0 || k >= depth_) throw Error("unrolled network: layer index out of range");
  if (tied_ && k > 0) return {};
  const size_t entry = tied_ ? 0 : static_cast<size_t>(k);
  std::vector<Index> indices;
  const auto& blocks = layers_[entry]->parameters().blocks();
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (!block_introduced_[entry][i]) continue;
    for (Index j = 0; j < blocks[i].size(); ++j) indices.push_back(block_offsets_[entry][i] + j);
  }
  return indices;
}

template <typename Scalar>
std::string UnrolledNetwork<Scalar>::name() const {
  return std::string(tied_ ? "tied" : "untied") + " unrolled " + layers_.front()->name() + " x" +
         std::to_string(depth_);
}

template <typename Scalar>
Operator<Scalar>& UnrolledNetwork<Scalar>::layer(Index k) {
  if (k < 0 || k >= depth_) throw Error("unrolled network: layer index out of range");
  return *layers_[tied_ ? 0 : static_cast<size_t>(k)];
}

template <typename Scalar>
const Operator<Scalar>& UnrolledNetwork<Scalar>::layer(Index k) const {
  if (k < 0 || k >= depth_) throw Error("unrolled network: layer index out of range");
  return *layers_[tied_ ? 0 : static_cast<size_t>(k)];
}

template <typename Scalar>
Index UnrolledNetwork<Scalar>::parameter_offset(Index k) const {
  if (k < 0 || k >= depth_) throw Error("unrolled network: layer index out of range");
  if (shares_blocks_) throw Error("unrolled network: layers share blocks, use LayerParameterIndices");
  return offsets_[tied_ ? 0 : static_cast<size_t>(k)];
}

template <typename Scalar>
void UnrolledNetwork<Scalar>::Forward(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x,
                                      MatRef<Scalar> out) const {
  this->CheckInputs(z0, x);
  // (The message is built only on a mismatch: no allocation on the hot path.)
  if (out.rows() != state_dim() || out.cols() != z0.cols()) RequireShape(out, state_dim(), z0.cols(), name() + " output");
  // Ping-pong between two buffers; the last layer writes into `out`.
  MatrixX<Scalar> a = z0;
  MatrixX<Scalar> b(state_dim(), z0.cols());
  for (Index k = 0; k < active_depth_; ++k) {
    if (k == active_depth_ - 1) {
      layer(k).Forward(a, x, out);
    } else {
      layer(k).Forward(a, x, b);
      a.swap(b);
    }
  }
}

template <typename Scalar>
void UnrolledNetwork<Scalar>::ForwardAllLayers(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x,
                                               std::vector<MatrixX<Scalar>>& layer_outputs) const {
  this->CheckInputs(z0, x);
  layer_outputs.assign(static_cast<size_t>(active_depth_), MatrixX<Scalar>(state_dim(), z0.cols()));
  for (Index k = 0; k < active_depth_; ++k) {
    if (k == 0) {
      layer(k).Forward(z0, x, layer_outputs[0]);
    } else {
      layer(k).Forward(layer_outputs[static_cast<size_t>(k - 1)], x, layer_outputs[static_cast<size_t>(k)]);
    }
  }
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> UnrolledNetwork<Scalar>::Linearize(ConstMatRef<Scalar> z0,
                                                                          ConstMatRef<Scalar> x) const {
  this->CheckInputs(z0, x);
  std::vector<std::unique_ptr<Linearization<Scalar>>> tape;
  tape.reserve(static_cast<size_t>(active_depth_));
  for (Index k = 0; k < active_depth_; ++k) {
    if (k == 0) {
      tape.push_back(layer(k).Linearize(z0, x));
    } else {
      tape.push_back(layer(k).Linearize(tape.back()->Value(), x));
    }
  }
  return std::make_unique<Tape>(*this, std::move(tape));
}

template class UnrolledNetwork<float>;
template class UnrolledNetwork<double>;

}  // namespace implicit
