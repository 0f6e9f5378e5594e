#include "unfolding/prox_gradient.hpp"

#include "core/prox.hpp"
#include "unfolding/layer_kernels.hpp"

namespace implicit {
namespace {

using detail::CheckShape;
using detail::SoftInPlace;

}  // namespace

bool ProxGradientConfig::IsValid(std::string*) const { return true; }

template <typename Scalar>
class ProxGradientLayer<Scalar>::Lin final : public Linearization<Scalar> {
 public:
  Lin(const ProxGradientLayer& op, MatrixX<Scalar> r, MatrixX<Scalar> wr, MatrixX<Scalar> u,
      MatrixX<Scalar> value, MatrixX<Scalar> selected)
      : op_(op), r_(std::move(r)), wr_(std::move(wr)), u_(std::move(u)), value_(std::move(value)),
        selected_(std::move(selected)) {}

  const MatrixX<Scalar>& Value() const override { return value_; }

  // gu = g .* soft'(u).  du/dz^T gu = gu - gamma A^T (W^T gu).
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    Masked(g, nullptr);
    wtg_.resize(op_.A().rows(), gu_.cols());
    wtg_.noalias() = op_.gamma() * (op_.W().transpose() * gu_);  // m x B
    grad_state = gu_;
    grad_state.noalias() -= op_.A().transpose() * wtg_;
  }
  // du/db^T gu = gamma W^T gu.
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    Masked(g, nullptr);
    grad_input.noalias() += op_.gamma() * (op_.W().transpose() * gu_);
  }
  // dW += gamma gu r^T, dgamma += <gu, W r>, dtheta from the threshold.
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    const ParameterSet<Scalar>& p = op_.parameters();
    if (grad_params.size() != p.size()) throw Error("prox_gradient: parameter gradient has wrong size");
    Eigen::Map<MatrixX<Scalar>> grad_theta = ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.theta_));
    Eigen::Map<VectorX<Scalar>> grad_theta_vec(grad_theta.data(), 1);
    Masked(g, &grad_theta_vec);
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.gamma_))(0, 0) +=
        (gu_.array() * wr_.array()).sum();
    if (op_.config_.learn_weight) {
      ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.weight_)).noalias() +=
          op_.gamma() * (gu_ * r_.transpose());
    }
  }

 private:
  // gu_ = g .* soft'(u) (grad_theta accumulated when non-null), into a buffer
  // reused across calls. The plain soft threshold (one theta) is done here,
  // vectorised, with SoftThreshold::Backward's values; support selection goes
  // through the policy.
  void Masked(ConstMatRef<Scalar> g, Eigen::Map<VectorX<Scalar>>* grad_theta) const {
    CheckShape(g, u_.rows(), u_.cols(), "prox_gradient cotangent");
    gu_.resize(u_.rows(), u_.cols());
    const Scalar t = op_.theta();
    if (op_.threshold_.selects_support()) {
      VectorX<Scalar> theta(1), unused = VectorX<Scalar>::Zero(1);
      theta(0) = t;
      if (grad_theta != nullptr) {
        op_.threshold_.Backward(u_, theta, selected_, g, gu_, *grad_theta);
      } else {
        op_.threshold_.Backward(u_, theta, selected_, g, gu_, unused);
      }
      return;
    }
    Scalar theta_sum = 0;
    for (Index j = 0; j < u_.cols(); ++j) {
      const auto u = u_.col(j).array();
      const auto gj = g.col(j).array();
      gu_.col(j).array() = (u.abs() > t).select(gj, Scalar(0));
      if (grad_theta != nullptr) theta_sum += (u > t).select(-gj, (u < -t).select(gj, Scalar(0))).sum();
    }
    if (grad_theta != nullptr) (*grad_theta)(0) += theta_sum;
  }
  const ProxGradientLayer& op_;
  MatrixX<Scalar> r_, wr_, u_, value_;
  MatrixX<Scalar> selected_;  // support-selection mask (empty without support selection)
  // Workspaces (a linearisation's VJPs must not run concurrently on several threads).
  mutable MatrixX<Scalar> gu_, wtg_;
};

template <typename Scalar>
ProxGradientLayer<Scalar>::ProxGradientLayer(MatrixPtr a, const MatrixX<Scalar>& weight, double gamma,
                                             double theta, const ProxGradientConfig& config)
    : a_(std::move(a)), config_(config), threshold_(config.support_percent) {
  if (!a_) throw Error("prox_gradient: null matrix A");
  RequireShape(weight, a_->cols(), a_->rows(), "prox_gradient weight W (n x m)");
  RequireFinite(*a_, "prox_gradient matrix A");
  RequireFinite(weight, "prox_gradient weight W");
  if (config.learn_weight) {
    weight_ = this->parameters_.AddBlock("W", weight.rows(), weight.cols());
  } else {
    fixed_weight_ = weight;
  }
  gamma_ = this->parameters_.AddBlock("gamma", 1, 1);
  theta_ = this->parameters_.AddBlock("theta", 1, 1);
  if (config.learn_weight) this->parameters_.Block(weight_) = weight;
  this->parameters_.Block(gamma_)(0, 0) = static_cast<Scalar>(gamma);
  this->parameters_.Block(theta_)(0, 0) = static_cast<Scalar>(theta);
}

template <typename Scalar>
Eigen::Map<const MatrixX<Scalar>> ProxGradientLayer<Scalar>::W() const {
  if (config_.learn_weight) return this->parameters_.Block(weight_);
  return Eigen::Map<const MatrixX<Scalar>>(fixed_weight_.data(), fixed_weight_.rows(), fixed_weight_.cols());
}

template <typename Scalar>
void ProxGradientLayer<Scalar>::Evaluate(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b, MatrixX<Scalar>& r,
                                         MatrixX<Scalar>& wr, MatRef<Scalar> u) const {
  r = b;
  // z = 0 (the usual first layer): A z is 0, skip the product.
  bool zero = true;
  for (Index j = 0; j < z.cols() && zero; ++j) zero = (z.col(j).array() == Scalar(0)).all();
  if (!zero) r.noalias() -= A() * z;
  wr.noalias() = W() * r;
  u = z + gamma() * wr;
}

template <typename Scalar>
void ProxGradientLayer<Scalar>::Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x,
                                        MatRef<Scalar> out) const {
  this->CheckInputs(z, x);
  if (out.rows() != state_dim() || out.cols() != z.cols()) RequireShape(out, state_dim(), z.cols(), name() + " output");
  // Per-thread workspaces: no allocation per call once the batch size is seen
  // (Forward is const and may run on several threads at once).
  thread_local MatrixX<Scalar> r, wr;
  Evaluate(z, x, r, wr, out);
  if (threshold_.selects_support()) {
    VectorX<Scalar> theta_vec(1);
    theta_vec(0) = theta();
    threshold_.Apply(out, theta_vec, out, nullptr);
  } else {
    SoftInPlace<Scalar>(out, theta());
  }
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> ProxGradientLayer<Scalar>::Linearize(ConstMatRef<Scalar> z,
                                                                            ConstMatRef<Scalar> x) const {
  this->CheckInputs(z, x);
  MatrixX<Scalar> r, wr, u(state_dim(), z.cols()), value(state_dim(), z.cols());
  Evaluate(z, x, r, wr, u);
  VectorX<Scalar> theta_vec(1);
  theta_vec(0) = theta();
  MatrixX<Scalar> selected;
  threshold_.Apply(u, theta_vec, value, &selected);
  return std::make_unique<Lin>(*this, std::move(r), std::move(wr), std::move(u), std::move(value),
                               std::move(selected));
}

template class ProxGradientLayer<float>;
template class ProxGradientLayer<double>;

}  // namespace implicit
