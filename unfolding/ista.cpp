#include "unfolding/ista.hpp"

#include "core/data.hpp"
#include "core/prox.hpp"

#include <cmath>
#include <sstream>

namespace implicit {

bool LassoSolverOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& m) {
    if (error != nullptr) *error = m;
    return false;
  };
  if (!(lambda >= 0.0) || !std::isfinite(lambda)) return fail("lambda must be finite and >= 0");
  if (max_iterations < 0) return fail("max_iterations must be >= 0");
  if (!(lipschitz >= 0.0) || !std::isfinite(lipschitz)) return fail("lipschitz must be finite and >= 0 (0 = estimate)");
  if (!(safety_factor >= 1.0)) return fail("safety_factor must be >= 1");
  if (!(tolerance >= 0.0)) return fail("tolerance must be >= 0");
  return true;
}

LassoSolverOptions::Method LassoSolverOptions::ParseMethod(const std::string& name) {
  if (name == "ista") return Method::kIsta;
  if (name == "fista") return Method::kFista;
  throw Error("unknown LASSO solver '" + name + "' (expected ista or fista)");
}

std::string LassoSolverSummary::BriefReport() const {
  std::ostringstream out;
  out << "LASSO solver: "
      << (termination == Termination::kConverged ? "CONVERGED" : "MAX_ITERATIONS") << ", "
      << iterations << " iterations, L = " << lipschitz;
  if (!message.empty()) out << " (" << message << ")";
  return out.str();
}

template <typename Scalar>
double EstimateLipschitz(ConstMatRef<Scalar> a, double safety_factor, std::uint64_t seed) {
  Rng rng(seed);
  // Many steps and a tight tolerance: the top two singular values of a
  // Gaussian matrix can be close, and power iteration converges slowly then.
  return safety_factor * SpectralNormSquared<Scalar>(a, rng, 5000, 1e-13);
}

template <typename Scalar>
LassoSolverSummary SolveLasso(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b,
                              const LassoSolverOptions& options, MatRef<Scalar> x,
                              const LassoIterationCallback<Scalar>& on_iteration) {
  std::string error;
  if (!options.IsValid(&error)) throw Error("LASSO solver options: " + error);
  const Index n = a.cols();
  const Index batch = b.cols();
  RequireShape(b, a.rows(), batch, "LASSO measurements B");
  RequireShape(x, n, batch, "LASSO estimate X");
  RequireFinite(a, "LASSO matrix A");
  RequireFinite(b, "LASSO measurements B");

  LassoSolverSummary summary;
  summary.lipschitz = options.lipschitz > 0.0
                          ? options.lipschitz
                          : EstimateLipschitz<Scalar>(a, options.safety_factor,
                                                      options.power_iteration_seed);
  const Scalar step = static_cast<Scalar>(1.0 / summary.lipschitz);
  VectorX<Scalar> threshold(1);
  threshold(0) = static_cast<Scalar>(options.lambda / summary.lipschitz);
  const bool fista = options.method == LassoSolverOptions::Method::kFista;

  MatrixX<Scalar> y = x;           // point the gradient step is taken from
  MatrixX<Scalar> x_previous = x;
  MatrixX<Scalar> residual(a.rows(), batch);
  MatrixX<Scalar> u(n, batch);
  double t = 1.0;
  for (int k = 1; k <= options.max_iterations; ++k) {
    residual = b;
    residual.noalias() -= a * y;
    u = y;
    u.noalias() += step * (a.transpose() * residual);
    x_previous = x;
    SoftThreshold<Scalar>::Apply(u, threshold, x);
    if (fista) {
      const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
      const Scalar momentum = static_cast<Scalar>((t - 1.0) / t_next);
      y = x + momentum * (x - x_previous);
      t = t_next;
    } else {
      y = x;
    }
    summary.iterations = k;
    if (on_iteration) on_iteration(k, x);
    if (options.tolerance > 0.0) {
      double worst = 0.0;
      for (Index j = 0; j < batch; ++j) {
        const double change = static_cast<double>((x.col(j) - x_previous.col(j)).norm());
        const double scale = std::max(static_cast<double>(x_previous.col(j).norm()), 1e-12);
        worst = std::max(worst, change / scale);
      }
      if (worst < options.tolerance) {
        summary.termination = LassoSolverSummary::Termination::kConverged;
        summary.message = "relative change below tolerance";
        break;
      }
    }
  }
  RequireFinite(x, "LASSO estimate (diverged: is L >= ||A||_2^2?)");
  return summary;
}

// ---------------------------------------------------------------- IstaStep

template <typename Scalar>
class IstaStep<Scalar>::Lin final : public Linearization<Scalar> {
 public:
  Lin(const IstaStep& op, MatrixX<Scalar> u, MatrixX<Scalar> value)
      : op_(op), u_(std::move(u)), value_(std::move(value)) {}
  const MatrixX<Scalar>& Value() const override { return value_; }

  // f = soft(u), u = z + (1/L) A^T (b - A z):
  //   du/dz^T g = g - (1/L) A^T A g,  du/db^T g = (1/L) A g.
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    MatrixX<Scalar> gu(u_.rows(), u_.cols());
    MaskedCotangent(g, gu);
    const Scalar step = static_cast<Scalar>(1.0 / op_.lipschitz_);
    MatrixX<Scalar> agu = op_.a_ * gu;
    grad_state = gu;
    grad_state.noalias() -= step * (op_.a_.transpose() * agu);
  }
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    MatrixX<Scalar> gu(u_.rows(), u_.cols());
    MaskedCotangent(g, gu);
    const Scalar step = static_cast<Scalar>(1.0 / op_.lipschitz_);
    grad_input.noalias() += step * (op_.a_ * gu);
  }
  void VjpParams(ConstMatRef<Scalar>, VecRef<Scalar>) const override {}  // no parameters

 private:
  void MaskedCotangent(ConstMatRef<Scalar> g, MatRef<Scalar> gu) const {
    VectorX<Scalar> theta(1), unused = VectorX<Scalar>::Zero(1);
    theta(0) = static_cast<Scalar>(op_.lambda_ / op_.lipschitz_);
    SoftThreshold<Scalar>::Backward(u_, theta, g, gu, unused);
  }
  const IstaStep& op_;
  MatrixX<Scalar> u_;
  MatrixX<Scalar> value_;
};

template <typename Scalar>
IstaStep<Scalar>::IstaStep(const MatrixX<Scalar>& a, double lambda, double lipschitz)
    : a_(a), lambda_(lambda), lipschitz_(lipschitz) {
  if (!(lipschitz > 0.0) || !(lambda >= 0.0)) throw Error("ista_step: need lipschitz > 0 and lambda >= 0");
  RequireFinite(a_, "ista_step matrix A");
}

template <typename Scalar>
void IstaStep<Scalar>::GradientStep(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b,
                                    MatRef<Scalar> u) const {
  MatrixX<Scalar> residual = b;
  residual.noalias() -= a_ * z;
  u = z;
  u.noalias() += static_cast<Scalar>(1.0 / lipschitz_) * (a_.transpose() * residual);
}

template <typename Scalar>
void IstaStep<Scalar>::Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x,
                               MatRef<Scalar> out) const {
  this->CheckInputs(z, x);
  RequireShape(out, state_dim(), z.cols(), name() + " output");
  GradientStep(z, x, out);
  VectorX<Scalar> theta(1);
  theta(0) = static_cast<Scalar>(lambda_ / lipschitz_);
  SoftThreshold<Scalar>::Apply(out, theta, out);
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> IstaStep<Scalar>::Linearize(ConstMatRef<Scalar> z,
                                                                   ConstMatRef<Scalar> x) const {
  this->CheckInputs(z, x);
  MatrixX<Scalar> u(state_dim(), z.cols());
  GradientStep(z, x, u);
  MatrixX<Scalar> value(state_dim(), z.cols());
  VectorX<Scalar> theta(1);
  theta(0) = static_cast<Scalar>(lambda_ / lipschitz_);
  SoftThreshold<Scalar>::Apply(u, theta, value);
  return std::make_unique<Lin>(*this, std::move(u), std::move(value));
}

template double EstimateLipschitz<float>(ConstMatRef<float>, double, std::uint64_t);
template double EstimateLipschitz<double>(ConstMatRef<double>, double, std::uint64_t);
template LassoSolverSummary SolveLasso<float>(ConstMatRef<float>, ConstMatRef<float>,
                                              const LassoSolverOptions&, MatRef<float>,
                                              const LassoIterationCallback<float>&);
template LassoSolverSummary SolveLasso<double>(ConstMatRef<double>, ConstMatRef<double>,
                                               const LassoSolverOptions&, MatRef<double>,
                                               const LassoIterationCallback<double>&);
template class IstaStep<float>;
template class IstaStep<double>;

}  // namespace implicit
