#include "deq/monotone_cell.hpp"

#include <cmath>

namespace implicit {

bool MonotoneCellConfig::IsValid(std::string* error) const {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = "monotone cell: " + message;
    return false;
  };
  if (state_dim <= 0 || input_dim <= 0) return fail("state_dim and input_dim must be > 0");
  // m > 0 is what makes I - W strongly monotone (uniqueness of z*).
  if (!(monotonicity_m > 0.0) || !std::isfinite(monotonicity_m)) {
    return fail("monotonicity_m must be > 0 and finite");
  }
  if (!(alpha > 0.0) || !std::isfinite(alpha)) return fail("alpha must be > 0 and finite");
  return true;
}

template <typename Scalar>
class MonotoneCell<Scalar>::Lin final : public Linearization<Scalar> {
 public:
  Lin(const MonotoneCell& op, MatrixX<Scalar> z, MatrixX<Scalar> x, MatrixX<Scalar> u,
      MatrixX<Scalar> value, MatrixX<Scalar> transition_t)
      : op_(op), z_(std::move(z)), x_(std::move(x)), u_(std::move(u)), value_(std::move(value)),
        transition_t_(std::move(transition_t)) {}

  const MatrixX<Scalar>& Value() const override { return value_; }

  // f = relu(u), u = ((1 - alpha) I + alpha W) z + ...  =>  grad_z = M^T (g .* D).
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    RequireShape(g, u_.rows(), u_.cols(), op_.name() + " cotangent");
    RequireShape(grad_state, u_.rows(), u_.cols(), op_.name() + " state gradient");
    const MatrixX<Scalar> gu = Masked(g);
    grad_state.noalias() = transition_t_ * gu;
  }

  // u depends on x through alpha U x  =>  grad_x += alpha U^T gu.
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    RequireShape(g, u_.rows(), u_.cols(), op_.name() + " cotangent");
    RequireShape(grad_input, x_.rows(), x_.cols(), op_.name() + " input gradient");
    const MatrixX<Scalar> gu = Masked(g);
    grad_input.noalias() += Alpha() * (op_.U().transpose() * gu);
  }

  // With G = dL/dW = alpha gu z^T (u is linear in W through alpha W z):
  //   W = ... + C - C^T   => <G, dC - dC^T> = <G - G^T, dC>
  //   W = ... - B^T B     => -<G, dB^T B + B^T dB> = -<B G^T + B G, dB>
  //   u = ... + alpha U x => grad_U = alpha gu x^T;  u = ... + alpha c 1^T => grad_c = alpha gu 1.
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    const ParameterSet<Scalar>& p = op_.parameters();
    RequireShape(g, u_.rows(), u_.cols(), op_.name() + " cotangent");
    if (grad_params.size() != p.size()) {
      throw Error(op_.name() + ": parameter gradient has " + std::to_string(grad_params.size()) +
                  " entries, expected " + std::to_string(p.size()));
    }
    const Scalar alpha = Alpha();
    const MatrixX<Scalar> gu = Masked(g);
    MatrixX<Scalar> grad_w(u_.rows(), u_.rows());  // G, n x n
    grad_w.noalias() = alpha * (gu * z_.transpose());
    const MatrixX<Scalar> sym = grad_w + grad_w.transpose();
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_b_)).noalias() -= op_.B() * sym;
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_c_)) += grad_w - grad_w.transpose();
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_u_)).noalias() +=
        alpha * (gu * x_.transpose());
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.block_bias_)) += alpha * gu.rowwise().sum();
  }

 private:
  Scalar Alpha() const { return static_cast<Scalar>(op_.config_.alpha); }
  // g .* relu'(u), relu'(0) taken as 0.
  MatrixX<Scalar> Masked(ConstMatRef<Scalar> g) const {
    return (u_.array() > Scalar(0)).select(g.array(), Scalar(0)).matrix();
  }

  const MonotoneCell& op_;
  MatrixX<Scalar> z_;             // n x batch, for grad_B, grad_C
  MatrixX<Scalar> x_;             // p x batch, for grad_U
  MatrixX<Scalar> u_;             // n x batch, pre-activation (relu mask)
  MatrixX<Scalar> value_;         // n x batch, f(z; x)
  MatrixX<Scalar> transition_t_;  // n x n, ((1 - alpha) I + alpha W)^T
};

template <typename Scalar>
MonotoneCell<Scalar>::MonotoneCell(const MonotoneCellConfig& config) : config_(config) {
  std::string error;
  if (!config.IsValid(&error)) throw Error(error);
  block_b_ = this->parameters_.AddBlock("B", config.state_dim, config.state_dim);
  block_c_ = this->parameters_.AddBlock("C", config.state_dim, config.state_dim);
  block_u_ = this->parameters_.AddBlock("U", config.state_dim, config.input_dim);
  block_bias_ = this->parameters_.AddBlock("c", config.state_dim, 1);
}

template <typename Scalar>
MatrixX<Scalar> MonotoneCell<Scalar>::W() const {
  const Index n = config_.state_dim;
  MatrixX<Scalar> w = static_cast<Scalar>(1.0 - config_.monotonicity_m) * MatrixX<Scalar>::Identity(n, n);
  w.noalias() -= B().transpose() * B();
  w += C();
  w -= C().transpose();
  return w;
}

template <typename Scalar>
double MonotoneCell<Scalar>::ContractionAlphaBound() const {
  const Index n = config_.state_dim;
  const Eigen::MatrixXd i_minus_w = Eigen::MatrixXd::Identity(n, n) - W().template cast<double>();
  // Singular values only; they are sorted in decreasing order.
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(i_minus_w);
  const double norm = svd.singularValues()(0);
  return 2.0 * config_.monotonicity_m / (norm * norm);
}

template <typename Scalar>
void MonotoneCell<Scalar>::set_alpha(double alpha) {
  if (!(alpha > 0.0) || !std::isfinite(alpha)) throw Error("monotone cell: alpha must be > 0 and finite");
  config_.alpha = alpha;
}

template <typename Scalar>
void MonotoneCell<Scalar>::PreActivation(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x,
                                         MatRef<Scalar> u) const {
  const Scalar alpha = static_cast<Scalar>(config_.alpha);
  const Scalar keep = static_cast<Scalar>(1.0 - config_.alpha * config_.monotonicity_m);
  const MatrixX<Scalar> bz = B() * z;  // n x batch
  // C - C^T formed first (O(n^2)): its diagonal is then exactly 0, so f does
  // not depend on diag(C) even in rounding (as in exact arithmetic).
  const MatrixX<Scalar> skew = C() - C().transpose();
  u = keep * z;
  u.noalias() -= alpha * (B().transpose() * bz);
  u.noalias() += alpha * (skew * z);
  u.noalias() += alpha * (U() * x);
  u.colwise() += alpha * c().col(0);
}

template <typename Scalar>
void MonotoneCell<Scalar>::Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x,
                                   MatRef<Scalar> out) const {
  this->CheckInputs(z, x);
  RequireShape(out, state_dim(), z.cols(), name() + " output");
  PreActivation(z, x, out);
  out = out.cwiseMax(Scalar(0));
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> MonotoneCell<Scalar>::Linearize(ConstMatRef<Scalar> z,
                                                                       ConstMatRef<Scalar> x) const {
  this->CheckInputs(z, x);
  MatrixX<Scalar> u(state_dim(), z.cols());
  PreActivation(z, x, u);
  MatrixX<Scalar> value = u.cwiseMax(Scalar(0));
  const Index n = state_dim();
  const Scalar alpha = static_cast<Scalar>(config_.alpha);
  MatrixX<Scalar> transition_t =
      (Scalar(1) - alpha) * MatrixX<Scalar>::Identity(n, n) + alpha * W().transpose();
  return std::make_unique<Lin>(*this, MatrixX<Scalar>(z), MatrixX<Scalar>(x), std::move(u),
                               std::move(value), std::move(transition_t));
}

template <typename Scalar>
void MonotoneCell<Scalar>::InitializeRandom(Rng& rng, double scale) {
  if (!(scale >= 0.0) || !std::isfinite(scale)) throw Error("monotone cell: scale must be >= 0 and finite");
  std::normal_distribution<double> normal(0.0, 1.0);
  for (Index block : {block_b_, block_c_, block_u_}) {
    Eigen::Map<MatrixX<Scalar>> w = this->parameters_.Block(block);
    for (Index j = 0; j < w.cols(); ++j)
      for (Index i = 0; i < w.rows(); ++i) w(i, j) = static_cast<Scalar>(scale * normal(rng));
  }
  c().setZero();
}

template class MonotoneCell<float>;
template class MonotoneCell<double>;

}  // namespace implicit
