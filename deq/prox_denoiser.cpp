#include "deq/prox_denoiser.hpp"

#include <cmath>
#include <utility>

namespace implicit {

bool ProxGradientDenoiserConfig::IsValid(std::string* error) const {
  if (hidden_dim <= 0) {
    if (error != nullptr) *error = "prox gradient denoiser: hidden_dim must be > 0";
    return false;
  }
  return true;
}

template <typename Scalar>
class ProxGradientDenoiser<Scalar>::Lin final : public Linearization<Scalar> {
 public:
  Lin(const ProxGradientDenoiser& op, MatrixX<Scalar> r, MatrixX<Scalar> v, MatrixX<Scalar> act,
      MatrixX<Scalar> value)
      : op_(op), r_(std::move(r)), v_(std::move(v)), act_(std::move(act)), value_(std::move(value)) {}

  const MatrixX<Scalar>& Value() const override { return value_; }

  // f = R(v), v = (I - eta A^T A) z + eta A^T b  =>  grad_z = gv - eta A^T (A gv).
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    RequireShape(grad_state, v_.rows(), v_.cols(), op_.name() + " state gradient");
    const MatrixX<Scalar> gv = CotangentOfV(g);
    const MatrixX<Scalar> a_gv = op_.a_ * gv;  // m x B
    grad_state = gv;
    grad_state.noalias() -= op_.step() * (op_.a_.transpose() * a_gv);
  }

  // v depends on b through + eta A^T b  =>  grad_b += eta A gv.
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    RequireShape(grad_input, r_.rows(), r_.cols(), op_.name() + " input gradient");
    const MatrixX<Scalar> gv = CotangentOfV(g);
    grad_input.noalias() += op_.step() * (op_.a_ * gv);
  }

  // R(v) = v + W2 a + b2 1^T, a = relu(W1 v + b1 1^T):
  //   grad_W2 += g a^T, grad_b2 += g 1, grad_W1 += gp v^T, grad_b1 += gp 1;
  // v = z - eta r, r = A z - b:  dv/deta = -A^T r  =>  grad_eta += -<gv, A^T r> = -<A gv, r>.
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    const ParameterSet<Scalar>& p = op_.parameters();
    if (grad_params.size() != p.size()) {
      throw Error(op_.name() + ": parameter gradient has " + std::to_string(grad_params.size()) +
                  " entries, expected " + std::to_string(p.size()));
    }
    const MatrixX<Scalar> gp = CotangentOfHidden(g);
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_w2_)).noalias() += g * act_.transpose();
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_b2_)) += g.rowwise().sum();
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_w1_)).noalias() += gp * v_.transpose();
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_b1_)) += gp.rowwise().sum();
    if (op_.config_.learn_step) {
      MatrixX<Scalar> gv = g;
      gv.noalias() += op_.W1().transpose() * gp;
      const MatrixX<Scalar> a_gv = op_.a_ * gv;  // m x B
      ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_eta_))(0, 0) -=
          (a_gv.array() * r_.array()).sum();
    }
  }

 private:
  // gp = relu'(p) .* (W2^T g), h x B; relu'(0) taken as 0 (a > 0 iff p > 0).
  MatrixX<Scalar> CotangentOfHidden(ConstMatRef<Scalar> g) const {
    RequireShape(g, v_.rows(), v_.cols(), op_.name() + " cotangent");
    MatrixX<Scalar> gp(act_.rows(), act_.cols());
    gp.noalias() = op_.W2().transpose() * g;
    gp = (act_.array() > Scalar(0)).select(gp.array(), Scalar(0)).matrix();
    return gp;
  }
  // gv = (dR/dv)^T g = g + W1^T gp, n x B.
  MatrixX<Scalar> CotangentOfV(ConstMatRef<Scalar> g) const {
    const MatrixX<Scalar> gp = CotangentOfHidden(g);
    MatrixX<Scalar> gv = g;
    gv.noalias() += op_.W1().transpose() * gp;
    return gv;
  }

  const ProxGradientDenoiser& op_;
  MatrixX<Scalar> r_;      // m x B, A z - b (for d/deta)
  MatrixX<Scalar> v_;      // n x B, gradient-step output (for d/dW1)
  MatrixX<Scalar> act_;    // h x B, relu(W1 v + b1) (for d/dW2 and the mask)
  MatrixX<Scalar> value_;  // n x B, f(z; b)
};

template <typename Scalar>
ProxGradientDenoiser<Scalar>::ProxGradientDenoiser(const MatrixX<Scalar>& a,
                                                   const ProxGradientDenoiserConfig& config,
                                                   double initial_step)
    : a_(a), config_(config), initial_step_(initial_step), fixed_step_(static_cast<Scalar>(initial_step)) {
  std::string error;
  if (!config.IsValid(&error)) throw Error(error);
  if (a_.rows() <= 0 || a_.cols() <= 0) throw Error("prox gradient denoiser: matrix A is empty");
  RequireFinite(a_, "prox gradient denoiser matrix A");
  if (!(initial_step > 0.0) || !std::isfinite(initial_step)) {
    throw Error("prox gradient denoiser: initial_step must be > 0 and finite");
  }
  const Index n = a_.cols(), h = config.hidden_dim;
  if (config.learn_step) block_eta_ = this->parameters_.AddBlock("eta", 1, 1);
  block_w1_ = this->parameters_.AddBlock("W1", h, n);
  block_b1_ = this->parameters_.AddBlock("b1", h, 1);
  block_w2_ = this->parameters_.AddBlock("W2", n, h);
  block_b2_ = this->parameters_.AddBlock("b2", n, 1);
  set_step(initial_step);
}

template <typename Scalar>
Scalar ProxGradientDenoiser<Scalar>::step() const {
  return config_.learn_step ? this->parameters_.Block(block_eta_)(0, 0) : fixed_step_;
}

template <typename Scalar>
void ProxGradientDenoiser<Scalar>::set_step(double eta) {
  if (!(eta > 0.0) || !std::isfinite(eta)) throw Error("prox gradient denoiser: step must be > 0 and finite");
  if (config_.learn_step) {
    this->parameters_.Block(block_eta_)(0, 0) = static_cast<Scalar>(eta);
  } else {
    fixed_step_ = static_cast<Scalar>(eta);
  }
}

template <typename Scalar>
void ProxGradientDenoiser<Scalar>::GradientStep(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b,
                                                MatRef<Scalar> v, MatRef<Scalar> r) const {
  r.noalias() = a_ * z;
  r -= b;
  v = z;
  v.noalias() -= step() * (a_.transpose() * r);
}

template <typename Scalar>
void ProxGradientDenoiser<Scalar>::Denoise(ConstMatRef<Scalar> v, MatRef<Scalar> p,
                                           MatRef<Scalar> out) const {
  p.noalias() = W1() * v;
  p.colwise() += b1().col(0);
  p = p.cwiseMax(Scalar(0));
  out = v;
  out.noalias() += W2() * p;
  out.colwise() += b2().col(0);
}

template <typename Scalar>
void ProxGradientDenoiser<Scalar>::Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b,
                                           MatRef<Scalar> out) const {
  this->CheckInputs(z, b);
  RequireShape(out, state_dim(), z.cols(), name() + " output");
  MatrixX<Scalar> r(input_dim(), z.cols()), v(state_dim(), z.cols());
  MatrixX<Scalar> hidden(config_.hidden_dim, z.cols());
  GradientStep(z, b, v, r);
  Denoise(v, hidden, out);
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> ProxGradientDenoiser<Scalar>::Linearize(
    ConstMatRef<Scalar> z, ConstMatRef<Scalar> b) const {
  this->CheckInputs(z, b);
  MatrixX<Scalar> r(input_dim(), z.cols()), v(state_dim(), z.cols());
  MatrixX<Scalar> hidden(config_.hidden_dim, z.cols()), value(state_dim(), z.cols());
  GradientStep(z, b, v, r);
  Denoise(v, hidden, value);
  return std::make_unique<Lin>(*this, std::move(r), std::move(v), std::move(hidden), std::move(value));
}

template <typename Scalar>
void ProxGradientDenoiser<Scalar>::InitializeRandom(Rng& rng, double scale, double residual_scale) {
  if (!(scale >= 0.0) || !std::isfinite(scale) || !(residual_scale >= 0.0) ||
      !std::isfinite(residual_scale)) {
    throw Error("prox gradient denoiser: scale and residual_scale must be >= 0 and finite");
  }
  std::normal_distribution<double> normal(0.0, 1.0);
  const double w1_std = scale / std::sqrt(static_cast<double>(state_dim()));
  const double w2_std = residual_scale / std::sqrt(static_cast<double>(config_.hidden_dim));
  for (auto [block, std_dev] : {std::pair<Index, double>{block_w1_, w1_std}, {block_w2_, w2_std}}) {
    Eigen::Map<MatrixX<Scalar>> w = this->parameters_.Block(block);
    for (Index j = 0; j < w.cols(); ++j)
      for (Index i = 0; i < w.rows(); ++i) w(i, j) = static_cast<Scalar>(std_dev * normal(rng));
  }
  b1().setZero();
  b2().setZero();
  set_step(initial_step_);
}

template class ProxGradientDenoiser<float>;
template class ProxGradientDenoiser<double>;

}  // namespace implicit
