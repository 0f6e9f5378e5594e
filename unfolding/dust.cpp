#include "unfolding/dust.hpp"

#include "core/prox_l1l1.hpp"

namespace implicit {

bool DustLayerConfig::IsValid(std::string* error) const {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = "dust layer: " + message;
    return false;
  };
  if (signal_dim < 1 || measurement_dim < 1 || frames < 1) return fail("signal_dim, measurement_dim, frames must be >= 1");
  return AttentionConfig().IsValid(error);
}

SequenceAttentionConfig DustLayerConfig::AttentionConfig() const {
  SequenceAttentionConfig c;
  c.signal_dim = signal_dim;
  c.frames = frames;
  c.mode = side_information;
  c.heads = heads;
  c.key_dim = key_dim;
  c.exclude_self = exclude_self;
  c.token_norm = token_norm;
  return c;
}

namespace {

// The N*T x B state (any outer stride) as an owned N x (T*B) frames matrix.
template <typename Scalar>
MatrixX<Scalar> ToFrames(ConstMatRef<Scalar> m, Index rows_per_frame) {
  const Index frames = m.rows() / rows_per_frame;
  MatrixX<Scalar> f(rows_per_frame, frames * m.cols());
  for (Index j = 0; j < m.cols(); ++j) {
    Eigen::Map<VectorX<Scalar>>(f.data() + j * m.rows(), m.rows()) = m.col(j);
  }
  return f;
}

// Writes an N x (T*B) frames matrix into an N*T x B output (assigns).
template <typename Scalar>
void FromFrames(const MatrixX<Scalar>& f, MatRef<Scalar> out) {
  const Index rows = out.rows();
  for (Index j = 0; j < out.cols(); ++j) {
    out.col(j) = Eigen::Map<const VectorX<Scalar>>(f.data() + j * rows, rows);
  }
}

}  // namespace

template <typename Scalar>
class DustLayer<Scalar>::Lin final : public Linearization<Scalar> {
 public:
  Lin(const DustLayer& op, Work work, MatrixX<Scalar> value)
      : op_(op), w_(std::move(work)), value_(std::move(value)) {}

  const MatrixX<Scalar>& Value() const override { return value_; }

  // f = P(u; s), u = z + gamma W (b - A z), s = Att(z):
  //   grad_z = gu - gamma A^T W^T gu + Att_z^T gs.
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    RequireShape(grad_state, value_.rows(), value_.cols(), op_.name() + " state gradient");
    const Backward& c = BackwardFor(g);
    MatrixX<Scalar> gz = c.gu;
    gz.noalias() -= op_.A().transpose() * c.gamma_wtg;
    op_.attention_.Backward(op_.parameters(), w_.attention, c.gs, gz, nullptr);
    FromFrames<Scalar>(gz, grad_state);
  }

  // du_t/db_t = gamma W  =>  grad_b += gamma W^T gu.
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    RequireShape(grad_input, op_.input_dim(), value_.cols(), op_.name() + " input gradient");
    const Backward& c = BackwardFor(g);
    MatrixX<Scalar> full(grad_input.rows(), grad_input.cols());
    FromFrames<Scalar>(c.gamma_wtg, full);
    grad_input += full;
  }

  // theta1, theta2 from the prox; gamma += <gu, W r>; W += gamma gu r^T;
  // attention blocks from gs.
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    const ParameterSet<Scalar>& p = op_.parameters();
    if (grad_params.size() != p.size()) {
      throw Error(op_.name() + ": parameter gradient has " + std::to_string(grad_params.size()) +
                  " entries, expected " + std::to_string(p.size()));
    }
    const Backward& c = BackwardFor(g);
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.theta1_))(0, 0) += c.theta1;
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.theta2_))(0, 0) += c.theta2;
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.gamma_))(0, 0) += (c.gu.array() * w_.wr.array()).sum();
    if (op_.config_.learn_weight) {
      ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.weight_)).noalias() += op_.gamma() * (c.gu * w_.r.transpose());
    }
    MatrixX<Scalar> unused_gz = MatrixX<Scalar>::Zero(c.gs.rows(), c.gs.cols());
    op_.attention_.Backward(p, w_.attention, c.gs, unused_gz, &grad_params);
  }

 private:
  // The prox backward for cotangent g and gamma W^T gu, shared by the three
  // VJPs: a trainer calls VjpState, VjpInput and VjpParams with the same g, so
  // the result is cached for the last g (compared by value) and computed once.
  struct Backward {
    MatrixX<Scalar> g;          // N*T x B, the cotangent this entry is for
    MatrixX<Scalar> gu, gs;     // N x T*B: d/du and d/ds of the l1-l1 prox
    MatrixX<Scalar> gamma_wtg;  // M x T*B: gamma W^T gu
    Scalar theta1 = 0, theta2 = 0;
  };
  const Backward& BackwardFor(ConstMatRef<Scalar> g) const {
    RequireShape(g, value_.rows(), value_.cols(), op_.name() + " cotangent");
    if (has_backward_ && backward_.g == g) return backward_;
    has_backward_ = false;  // stays false if anything below throws
    backward_.g = g;
    const MatrixX<Scalar> gf = ToFrames<Scalar>(g, op_.config_.signal_dim);
    backward_.gu.resize(gf.rows(), gf.cols());
    backward_.gs.resize(gf.rows(), gf.cols());
    backward_.theta1 = backward_.theta2 = Scalar(0);
    L1L1Prox<Scalar>::Backward(w_.value, w_.s, w_.region, op_.theta1(), op_.theta2(), gf, backward_.gu, backward_.gs,
                               backward_.theta1, backward_.theta2);
    backward_.gamma_wtg.resize(op_.config_.measurement_dim, gf.cols());
    backward_.gamma_wtg.noalias() = op_.W().transpose() * backward_.gu;
    backward_.gamma_wtg *= op_.gamma();
    has_backward_ = true;
    return backward_;
  }

  const DustLayer& op_;
  Work w_;
  MatrixX<Scalar> value_;  // N*T x B
  mutable bool has_backward_ = false;
  mutable Backward backward_;
};

template <typename Scalar>
DustLayer<Scalar>::DustLayer(MatrixPtr a, const MatrixX<Scalar>& weight, double gamma, double theta1, double theta2,
                             const DustLayerConfig& config)
    : a_(std::move(a)), config_(config), attention_(config.AttentionConfig(), this->parameters_) {
  std::string error;
  if (!config.IsValid(&error)) throw Error(error);
  if (!a_) throw Error("dust layer: null matrix A");
  RequireShape(*a_, config.measurement_dim, config.signal_dim, "dust layer matrix A (M x N)");
  RequireShape(weight, config.signal_dim, config.measurement_dim, "dust layer weight W (N x M)");
  RequireFinite(*a_, "dust layer matrix A");
  RequireFinite(weight, "dust layer weight W");
  if (config.learn_weight) {
    weight_ = this->parameters_.AddBlock("W", weight.rows(), weight.cols());
    this->parameters_.Block(weight_) = weight;
  } else {
    fixed_weight_ = weight;
  }
  gamma_ = this->parameters_.AddBlock("gamma", 1, 1);
  theta1_ = this->parameters_.AddBlock("theta1", 1, 1);
  theta2_ = this->parameters_.AddBlock("theta2", 1, 1);
  this->parameters_.Block(gamma_)(0, 0) = static_cast<Scalar>(gamma);
  this->parameters_.Block(theta1_)(0, 0) = static_cast<Scalar>(theta1);
  this->parameters_.Block(theta2_)(0, 0) = static_cast<Scalar>(theta2);
  // Value maps start at the identity (s_t = average of the other frames).
  for (const ParameterBlockInfo& info : this->parameters_.blocks()) {
    if (info.name.rfind("Wv", 0) == 0) {
      this->parameters_.Block(this->parameters_.Find(info.name)) =
          MatrixX<Scalar>::Identity(info.rows, info.cols) / static_cast<Scalar>(config.side_information == SideInformation::kAttention ? config.heads : 1);
    }
  }
}

template <typename Scalar>
void DustLayer<Scalar>::InitializeAttention(Rng& rng, double logit_scale, double value_scale) {
  attention_.Initialize(this->parameters_, rng, logit_scale, value_scale);
}

template <typename Scalar>
Eigen::Map<const MatrixX<Scalar>> DustLayer<Scalar>::W() const {
  if (config_.learn_weight) return this->parameters_.Block(weight_);
  return Eigen::Map<const MatrixX<Scalar>>(fixed_weight_.data(), fixed_weight_.rows(), fixed_weight_.cols());
}

template <typename Scalar>
void DustLayer<Scalar>::Evaluate(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, Work& w, bool keep) const {
  w.z = ToFrames<Scalar>(z, config_.signal_dim);
  w.b = ToFrames<Scalar>(x, config_.measurement_dim);
  const Index columns = w.z.cols();
  w.s.resize(config_.signal_dim, columns);
  attention_.Forward(this->parameters_, w.z, w.s, keep ? &w.attention : nullptr);
  w.r = w.b;
  w.r.noalias() -= A() * w.z;
  w.wr.resize(config_.signal_dim, columns);
  w.wr.noalias() = W() * w.r;
  w.u = w.z + gamma() * w.wr;
  w.value.resize(config_.signal_dim, columns);
  if (keep) w.region.resize(config_.signal_dim, columns);
  L1L1Prox<Scalar>::Apply(w.u, w.s, theta1(), theta2(), w.value, keep ? &w.region : nullptr);
}

template <typename Scalar>
void DustLayer<Scalar>::Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, MatRef<Scalar> out) const {
  this->CheckInputs(z, x);
  RequireShape(out, state_dim(), z.cols(), name() + " output");
  Work w;
  Evaluate(z, x, w, false);
  FromFrames<Scalar>(w.value, out);
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> DustLayer<Scalar>::Linearize(ConstMatRef<Scalar> z,
                                                                    ConstMatRef<Scalar> x) const {
  this->CheckInputs(z, x);
  Work w;
  Evaluate(z, x, w, true);
  MatrixX<Scalar> value(state_dim(), z.cols());
  FromFrames<Scalar>(w.value, value);
  w.z.resize(0, 0);  // the attention cache keeps its own copy
  w.b.resize(0, 0);
  w.u.resize(0, 0);
  return std::make_unique<Lin>(*this, std::move(w), std::move(value));
}

template class DustLayer<float>;
template class DustLayer<double>;

}  // namespace implicit
