#include "unfolding/unrolled_network.hpp"

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
    for (Index k = net_.depth_ - 1; k >= 0; --k) {
      const Linearization<Scalar>& lin = *layers_[static_cast<size_t>(k)];
      if (grad_params != nullptr) {
        const Operator<Scalar>& op = net_.layer(k);
        const Index offset = net_.parameter_offset(k);
        lin.VjpParams(current, grad_params->segment(offset, op.parameters().size()));
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
  BindLayerParameters();
}

template <typename Scalar>
UnrolledNetwork<Scalar>::UnrolledNetwork(std::unique_ptr<Operator<Scalar>> shared_layer, Index depth)
    : depth_(depth), tied_(true) {
  if (!shared_layer) throw Error("unrolled network: shared layer is null");
  if (depth < 1) throw Error("unrolled network: depth must be >= 1");
  layers_.push_back(std::move(shared_layer));
  BindLayerParameters();
}

template <typename Scalar>
void UnrolledNetwork<Scalar>::BindLayerParameters() {
  // Declare every layer's blocks in the network's set, then move each
  // layer's values into its segment and point the layer at it.
  for (size_t k = 0; k < layers_.size(); ++k) {
    const ParameterSet<Scalar>& p = layers_[k]->parameters();
    offsets_.push_back(this->parameters_.size());
    for (const ParameterBlockInfo& b : p.blocks()) {
      const std::string prefix = tied_ ? "" : "layer" + std::to_string(k) + ".";
      this->parameters_.AddBlock(prefix + b.name, b.rows, b.cols);
    }
  }
  for (size_t k = 0; k < layers_.size(); ++k) {
    layers_[k]->parameters().BindTo(this->parameters_.Flat().data() + offsets_[k]);
  }
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
  return offsets_[tied_ ? 0 : static_cast<size_t>(k)];
}

template <typename Scalar>
void UnrolledNetwork<Scalar>::Forward(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x,
                                      MatRef<Scalar> out) const {
  this->CheckInputs(z0, x);
  RequireShape(out, state_dim(), z0.cols(), name() + " output");
  // Ping-pong between two buffers; the last layer writes into `out`.
  MatrixX<Scalar> a = z0;
  MatrixX<Scalar> b(state_dim(), z0.cols());
  for (Index k = 0; k < depth_; ++k) {
    if (k == depth_ - 1) {
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
  layer_outputs.assign(static_cast<size_t>(depth_), MatrixX<Scalar>(state_dim(), z0.cols()));
  for (Index k = 0; k < depth_; ++k) {
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
  tape.reserve(static_cast<size_t>(depth_));
  for (Index k = 0; k < depth_; ++k) {
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
