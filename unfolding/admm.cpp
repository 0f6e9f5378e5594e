#include "unfolding/admm.hpp"

#include "core/prox.hpp"

#include <Eigen/Eigenvalues>

#include <cmath>
#include <utility>

namespace implicit {

namespace {

// Throws unless rho is a usable penalty: s + rho > 0 for every eigenvalue
// s >= 0 of A^T A needs rho > 0 when A has a null space (m < n), and rho > 0
// is what ADMM's penalty means in any case.
template <typename Scalar>
void RequirePositiveRho(Scalar rho, const std::string& what) {
  if (!(rho > Scalar(0)) || !std::isfinite(static_cast<double>(rho))) {
    throw Error(what + ": rho must be finite and > 0, got " + std::to_string(static_cast<double>(rho)) +
                " (a learned rho left its range: lower the learning rate)");
  }
}

}  // namespace

template <typename Scalar>
void AdmmFactorization<Scalar>::Solve(Scalar rho, ConstMatRef<Scalar> y, MatRef<Scalar> out) const {
  RequirePositiveRho(rho, "admm factorization solve");
  RequireShape(y, cols(), y.cols(), "admm factorization right-hand side");
  RequireShape(out, cols(), y.cols(), "admm factorization solution");
  // V diag(1 / (s + rho)) V^T y: two n x n products and a row scaling.
  MatrixX<Scalar> vty(cols(), y.cols());
  vty.noalias() = v.transpose() * y;
  const VectorX<Scalar> inverse = (s.array() + rho).inverse().matrix();
  vty = inverse.asDiagonal() * vty;
  out.noalias() = v * vty;
}

bool AdmmLayerConfig::IsValid(std::string*) const { return true; }

template <typename Scalar>
class AdmmLayer<Scalar>::Lin final : public Linearization<Scalar> {
 public:
  Lin(const AdmmLayer& op, MatrixX<Scalar> state, MatrixX<Scalar> x_plus, MatrixX<Scalar> v,
      MatrixX<Scalar> value)
      : op_(op), state_(std::move(state)), x_plus_(std::move(x_plus)), v_(std::move(v)),
        value_(std::move(value)) {}

  const MatrixX<Scalar>& Value() const override { return value_; }

  // grad_z = rho gc + (1 - alpha) gv, grad_u = gv - rho gc  (see the header).
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    RequireShape(grad_state, state_.rows(), state_.cols(), op_.name() + " state gradient");
    const Index n = op_.signal_dim();
    MatrixX<Scalar> gv, gc;
    Cotangents(g, nullptr, gv, gc);
    const Scalar rho = op_.rho();
    grad_state.topRows(n) = rho * gc + (Scalar(1) - op_.alpha()) * gv;
    grad_state.bottomRows(n) = gv - rho * gc;
  }

  // c = A^T b + ...  =>  grad_b += A gc.
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    RequireShape(grad_input, op_.input_dim(), state_.cols(), op_.name() + " input gradient");
    MatrixX<Scalar> gv, gc;
    Cotangents(g, nullptr, gv, gc);
    grad_input.noalias() += op_.factorization().a * gc;
  }

  // grho += <gc, (z - u) - x+>, gtheta from the soft threshold,
  // galpha += <gv, x+ - z> (if learned).
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    const ParameterSet<Scalar>& p = op_.parameters();
    if (grad_params.size() != p.size()) {
      throw Error(op_.name() + ": parameter gradient has " + std::to_string(grad_params.size()) +
                  " entries, expected " + std::to_string(p.size()));
    }
    const Index n = op_.signal_dim();
    Eigen::Map<MatrixX<Scalar>> grad_theta = ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.theta_));
    Eigen::Map<VectorX<Scalar>> grad_theta_vec(grad_theta.data(), 1);
    MatrixX<Scalar> gv, gc;
    Cotangents(g, &grad_theta_vec, gv, gc);
    const auto z = state_.topRows(n);
    const auto u = state_.bottomRows(n);
    // The block holds log(rho) (rho stays > 0 under any optimiser step):
    // dL/dlog(rho) = rho dL/drho.
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.rho_))(0, 0) +=
        op_.rho() * (gc.array() * (z.array() - u.array() - x_plus_.array())).sum();
    if (op_.config_.learn_relaxation) {
      ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.alpha_))(0, 0) +=
          (gv.array() * (x_plus_.array() - z.array())).sum();
    }
  }

 private:
  // gv = gu + S .* (gz - gu) (n x B, cotangent of v = xh + u) and
  // gc = alpha M gv (n x B, cotangent of c = A^T b + rho (z - u)).
  // Accumulates the threshold gradient into grad_theta when given.
  void Cotangents(ConstMatRef<Scalar> g, Eigen::Map<VectorX<Scalar>>* grad_theta, MatrixX<Scalar>& gv,
                  MatrixX<Scalar>& gc) const {
    RequireShape(g, value_.rows(), value_.cols(), op_.name() + " cotangent");
    const Index n = op_.signal_dim();
    const MatrixX<Scalar> gz_minus_gu = g.topRows(n) - g.bottomRows(n);
    VectorX<Scalar> theta(1), unused = VectorX<Scalar>::Zero(1);
    theta(0) = op_.theta();
    gv.resize(n, g.cols());
    SoftThreshold<Scalar>::Backward(v_, theta, gz_minus_gu, gv,
                                    grad_theta != nullptr ? VecRef<Scalar>(*grad_theta) : VecRef<Scalar>(unused));
    gv += g.bottomRows(n);
    gc.resize(n, g.cols());
    op_.factorization().Solve(op_.rho(), gv, gc);
    gc *= op_.alpha();
  }

  const AdmmLayer& op_;
  MatrixX<Scalar> state_, x_plus_, v_, value_;
};

template <typename Scalar>
typename AdmmLayer<Scalar>::FactorizationPtr AdmmLayer<Scalar>::Factorize(const MatrixX<Scalar>& a) {
  if (a.rows() == 0 || a.cols() == 0) throw Error("admm_layer: empty matrix A");
  RequireFinite(a, "admm_layer matrix A");
  auto f = std::make_shared<AdmmFactorization<Scalar>>();
  f->a = a;
  // Eigendecomposition in double (A^T A squares the condition number; float
  // would lose the small eigenvalues), then stored as Scalar.
  const Eigen::MatrixXd ad = a.template cast<double>();
  Eigen::MatrixXd gram(ad.cols(), ad.cols());
  gram.setZero();
  gram.template selfadjointView<Eigen::Lower>().rankUpdate(ad.transpose());
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);
  if (eig.info() != Eigen::Success) throw Error("admm_layer: eigendecomposition of A^T A failed");
  f->v = eig.eigenvectors().template cast<Scalar>();
  // A^T A is PSD; rounding can give eigenvalues of -1e-16 * ||A||^2 for its null space.
  f->s = eig.eigenvalues().cwiseMax(0.0).template cast<Scalar>();
  return f;
}

template <typename Scalar>
AdmmLayer<Scalar>::AdmmLayer(FactorizationPtr factorization, double rho0, double theta0, double alpha0,
                             const AdmmLayerConfig& config)
    : factorization_(std::move(factorization)), config_(config) {
  if (!factorization_) throw Error("admm_layer: null factorization (use AdmmLayer::Factorize(A))");
  std::string error;
  if (!config_.IsValid(&error)) throw Error("admm_layer config: " + error);
  if (!(rho0 > 0.0) || !std::isfinite(rho0)) throw Error("admm_layer: rho0 must be finite and > 0");
  if (!(theta0 >= 0.0) || !std::isfinite(theta0)) throw Error("admm_layer: theta0 must be finite and >= 0");
  if (!(alpha0 > 0.0 && alpha0 < 2.0)) throw Error("admm_layer: alpha0 must be in (0, 2)");
  if (!config_.learn_relaxation && alpha0 != 1.0) {
    throw Error("admm_layer: alpha0 != 1 needs config.learn_relaxation (otherwise alpha is fixed at 1)");
  }
  rho_ = this->parameters_.AddBlock("log_rho", 1, 1);
  theta_ = this->parameters_.AddBlock("theta", 1, 1);
  if (config_.learn_relaxation) alpha_ = this->parameters_.AddBlock("alpha", 1, 1);
  this->parameters_.Block(rho_)(0, 0) = static_cast<Scalar>(std::log(rho0));
  this->parameters_.Block(theta_)(0, 0) = static_cast<Scalar>(theta0);
  if (config_.learn_relaxation) this->parameters_.Block(alpha_)(0, 0) = static_cast<Scalar>(alpha0);
}

template <typename Scalar>
std::unique_ptr<AdmmLayer<Scalar>> AdmmLayer<Scalar>::ForLasso(FactorizationPtr factorization, double lambda,
                                                               double rho) {
  if (!(lambda >= 0.0) || !std::isfinite(lambda)) throw Error("admm_layer: lambda must be finite and >= 0");
  if (!(rho > 0.0) || !std::isfinite(rho)) throw Error("admm_layer: rho must be finite and > 0");
  return std::make_unique<AdmmLayer>(std::move(factorization), rho, lambda / rho, 1.0, AdmmLayerConfig{});
}

template <typename Scalar>
Scalar AdmmLayer<Scalar>::alpha() const {
  return config_.learn_relaxation ? this->parameters_.Block(alpha_)(0, 0) : Scalar(1);
}

template <typename Scalar>
void AdmmLayer<Scalar>::Evaluate(ConstMatRef<Scalar> state, ConstMatRef<Scalar> b, MatRef<Scalar> x_plus,
                                 MatRef<Scalar> v, MatRef<Scalar> out) const {
  const Index n = signal_dim();
  const Scalar penalty = rho(), relaxation = alpha();
  RequirePositiveRho(penalty, name());
  const auto z = state.topRows(n);
  const auto u = state.bottomRows(n);
  // c = A^T b + rho (z - u), then x+ = (A^T A + rho I)^{-1} c.
  MatrixX<Scalar> c(n, state.cols());
  c.noalias() = factorization_->a.transpose() * b;
  c += penalty * (z - u);
  factorization_->Solve(penalty, c, x_plus);
  // v = xh + u with xh = alpha x+ + (1 - alpha) z.
  v = relaxation * x_plus + (Scalar(1) - relaxation) * z + u;
  VectorX<Scalar> theta_vec(1);
  theta_vec(0) = theta();
  auto z_next = out.topRows(n);
  SoftThreshold<Scalar>::Apply(v, theta_vec, z_next);
  out.bottomRows(n) = v - out.topRows(n);  // u+ = u + xh - z+
}

template <typename Scalar>
void AdmmLayer<Scalar>::Forward(ConstMatRef<Scalar> state, ConstMatRef<Scalar> b, MatRef<Scalar> out) const {
  this->CheckInputs(state, b);
  RequireShape(out, state_dim(), state.cols(), name() + " output");
  MatrixX<Scalar> x_plus(signal_dim(), state.cols()), v(signal_dim(), state.cols());
  Evaluate(state, b, x_plus, v, out);
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> AdmmLayer<Scalar>::Linearize(ConstMatRef<Scalar> state,
                                                                    ConstMatRef<Scalar> b) const {
  this->CheckInputs(state, b);
  MatrixX<Scalar> x_plus(signal_dim(), state.cols()), v(signal_dim(), state.cols());
  MatrixX<Scalar> value(state_dim(), state.cols());
  Evaluate(state, b, x_plus, v, value);
  return std::make_unique<Lin>(*this, MatrixX<Scalar>(state), std::move(x_plus), std::move(v),
                               std::move(value));
}

template struct AdmmFactorization<float>;
template struct AdmmFactorization<double>;
template class AdmmLayer<float>;
template class AdmmLayer<double>;

}  // namespace implicit
