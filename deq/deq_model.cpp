#include "deq/deq_model.hpp"

#include <cmath>
#include <sstream>

namespace implicit {

DeqBackward ParseDeqBackward(const std::string& name) {
  if (name == "ift") return DeqBackward::kImplicit;
  if (name == "jfb") return DeqBackward::kJacobianFree;
  if (name == "phantom") return DeqBackward::kPhantom;
  if (name == "unrolled") return DeqBackward::kUnrolled;
  throw Error("unknown DEQ backward mode '" + name + "' (expected ift, jfb, phantom or unrolled)");
}

std::string DeqBackwardName(DeqBackward mode) {
  switch (mode) {
    case DeqBackward::kImplicit: return "ift";
    case DeqBackward::kJacobianFree: return "jfb";
    case DeqBackward::kPhantom: return "phantom";
    case DeqBackward::kUnrolled: return "unrolled";
  }
  return "?";
}

bool DeqOptions::IsValid(std::string* error) const {
  std::string inner;
  if (!forward.IsValid(&inner)) {
    if (error != nullptr) *error = "forward solver: " + inner;
    return false;
  }
  if (!adjoint.IsValid(&inner)) {
    if (error != nullptr) *error = "adjoint solver: " + inner;
    return false;
  }
  auto fail = [&](const std::string& m) {
    if (error != nullptr) *error = m;
    return false;
  };
  if (phantom_steps < 1) return fail("phantom_steps must be >= 1");
  if (!(phantom_damping > 0.0 && phantom_damping <= 1.0)) return fail("phantom_damping must be in (0, 1]");
  if (power_iterations < 1) return fail("power_iterations must be >= 1");
  return true;
}

std::string DeqForwardSummary::BriefReport() const {
  std::ostringstream out;
  out << solve.BriefReport();
  if (spectral_radius >= 0.0) out << ", spectral radius of df/dz at z* ~ " << spectral_radius;
  if (!warning.empty()) out << "\nWARNING: " << warning;
  return out.str();
}

std::string DeqBackwardSummary::BriefReport() const {
  std::ostringstream out;
  out << "backward (" << DeqBackwardName(mode) << "): " << vjp_evaluations << " state VJPs";
  if (mode == DeqBackward::kImplicit) out << "; adjoint " << adjoint.BriefReport();
  return out.str();
}

// ------------------------------------------------------------------ shared backprop

namespace {

// Backpropagates through stored steps z_{i+1} = (1 - beta) z_i + beta f(z_i)
// (phantom gradient and full unrolling): grad_params and grad_input (when
// non-null) accumulate; returns dL/dz_0.
template <typename Scalar>
MatrixX<Scalar> BackpropDampedSteps(const std::vector<std::unique_ptr<Linearization<Scalar>>>& steps, double damping,
                                    ConstMatRef<Scalar> g, MatRef<Scalar>* grad_input, VecRef<Scalar>* grad_params) {
  const Scalar beta = static_cast<Scalar>(damping);
  MatrixX<Scalar> current = g;
  MatrixX<Scalar> through_f(current.rows(), current.cols()), scaled(current.rows(), current.cols());
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    scaled = beta * current;
    if (grad_params != nullptr) (*it)->VjpParams(scaled, *grad_params);
    if (grad_input != nullptr) (*it)->VjpInput(scaled, *grad_input);
    (*it)->VjpState(scaled, through_f);
    current = (Scalar(1) - beta) * current + through_f;
  }
  return current;
}

}  // namespace

// ------------------------------------------------------------------ IFT, JFB, phantom

template <typename Scalar>
class DeqModel<Scalar>::ImplicitLin final : public Linearization<Scalar> {
 public:
  ImplicitLin(const DeqModel& model, MatrixX<Scalar> z_star, std::unique_ptr<Linearization<Scalar>> star,
              std::vector<std::unique_ptr<Linearization<Scalar>>> phantom)
      : model_(model), z_star_(std::move(z_star)), star_(std::move(star)), phantom_(std::move(phantom)) {}

  const MatrixX<Scalar>& Value() const override { return z_star_; }

  // z* does not depend on where the solver started.
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    RequireShape(g, z_star_.rows(), z_star_.cols(), model_.name() + " cotangent");
    grad_state.setZero();
  }
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    if (model_.options_.backward == DeqBackward::kPhantom) {
      PhantomBackward(g, &grad_input, nullptr);
      return;
    }
    star_->VjpInput(Adjoint(g), grad_input);
  }
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    if (model_.options_.backward == DeqBackward::kPhantom) {
      PhantomBackward(g, nullptr, &grad_params);
      return;
    }
    star_->VjpParams(Adjoint(g), grad_params);
  }

 private:
  // u solving u = J^T u + g (IFT) or u = g (JFB). Cached for the last g so
  // that VjpInput and VjpParams with the same cotangent share one solve.
  const MatrixX<Scalar>& Adjoint(ConstMatRef<Scalar> g) const {
    RequireShape(g, z_star_.rows(), z_star_.cols(), model_.name() + " cotangent");
    if (has_cache_ && cached_g_ == g) return cached_u_;
    DeqBackwardSummary& summary = model_.backward_summary_;
    summary = DeqBackwardSummary{};
    summary.mode = model_.options_.backward;
    cached_g_ = g;
    cached_u_ = g;
    if (model_.options_.backward == DeqBackward::kImplicit) {
      int evaluations = 0;
      const BatchMap<Scalar> map = [&](ConstMatRef<Scalar> u, MatRef<Scalar> out) {
        star_->VjpState(u, out);
        out += g;
        ++evaluations;
      };
      summary.adjoint = SolveFixedPoint<Scalar>(map, cached_u_, model_.options_.adjoint);
      summary.vjp_evaluations = evaluations;
    }
    has_cache_ = true;
    return cached_u_;
  }

  // Exact backprop through z_{i+1} = (1 - l) z_i + l f(z_i), i = 0..k-1, z_0 = z*.
  void PhantomBackward(ConstMatRef<Scalar> g, MatRef<Scalar>* grad_input, VecRef<Scalar>* grad_params) const {
    RequireShape(g, z_star_.rows(), z_star_.cols(), model_.name() + " cotangent");
    // dL/dz* is dropped: z* is treated as a constant (Geng et al.).
    BackpropDampedSteps<Scalar>(phantom_, model_.options_.phantom_damping, g, grad_input, grad_params);
    DeqBackwardSummary& summary = model_.backward_summary_;
    summary = DeqBackwardSummary{};
    summary.mode = DeqBackward::kPhantom;
    summary.vjp_evaluations = static_cast<int>(phantom_.size());
  }

  const DeqModel& model_;
  MatrixX<Scalar> z_star_;
  std::unique_ptr<Linearization<Scalar>> star_;                  // f linearised at z*
  std::vector<std::unique_ptr<Linearization<Scalar>>> phantom_;  // kPhantom only
  mutable bool has_cache_ = false;
  mutable MatrixX<Scalar> cached_g_, cached_u_;
};

// ------------------------------------------------------------------ full unrolling

template <typename Scalar>
class DeqModel<Scalar>::UnrolledLin final : public Linearization<Scalar> {
 public:
  UnrolledLin(const DeqModel& model, MatrixX<Scalar> value, std::vector<std::unique_ptr<Linearization<Scalar>>> steps)
      : model_(model), value_(std::move(value)), steps_(std::move(steps)) {}
  const MatrixX<Scalar>& Value() const override { return value_; }
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    Backward(g, &grad_state, nullptr, nullptr);
  }
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    Backward(g, nullptr, &grad_input, nullptr);
  }
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    Backward(g, nullptr, nullptr, &grad_params);
  }

 private:
  // z_{i+1} = (1 - beta) z_i + beta f(z_i), backpropagated through every step.
  void Backward(ConstMatRef<Scalar> g, MatRef<Scalar>* grad_state, MatRef<Scalar>* grad_input,
                VecRef<Scalar>* grad_params) const {
    RequireShape(g, value_.rows(), value_.cols(), model_.name() + " cotangent");
    MatrixX<Scalar> start = BackpropDampedSteps<Scalar>(steps_, model_.options_.forward.damping, g, grad_input, grad_params);
    if (grad_state != nullptr) *grad_state = start;
    DeqBackwardSummary& summary = model_.backward_summary_;
    summary = DeqBackwardSummary{};
    summary.mode = DeqBackward::kUnrolled;
    summary.vjp_evaluations = static_cast<int>(steps_.size());
  }

  const DeqModel& model_;
  MatrixX<Scalar> value_;
  std::vector<std::unique_ptr<Linearization<Scalar>>> steps_;
};

// ------------------------------------------------------------------ model

template <typename Scalar>
DeqModel<Scalar>::DeqModel(std::unique_ptr<Operator<Scalar>> cell, const DeqOptions& options)
    : cell_(std::move(cell)), options_(options) {
  if (!cell_) throw Error("DEQ: null cell operator");
  std::string error;
  if (!options.IsValid(&error)) throw Error("DEQ options: " + error);
  if (cell_->state_dim() <= 0) throw Error("DEQ: cell has an empty state");
  // The model's parameters are the cell's (tied by construction): one flat vector.
  for (const ParameterBlockInfo& b : cell_->parameters().blocks()) {
    this->parameters_.AddBlock(b.name, b.rows, b.cols);
  }
  if (this->parameters_.size() > 0) cell_->parameters().BindTo(this->parameters_.Flat().data());
}

template <typename Scalar>
void DeqModel<Scalar>::Solve(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x, MatRef<Scalar> out) const {
  this->CheckInputs(z0, x);
  RequireShape(out, state_dim(), z0.cols(), name() + " output");
  RequireFinite(x, name() + " input");
  RequireFinite(z0, name() + " initial state");
  std::string error;
  if (!options_.IsValid(&error)) throw Error("DEQ options: " + error);
  forward_summary_ = DeqForwardSummary{};
  out = z0;
  const BatchMap<Scalar> map = [&](ConstMatRef<Scalar> z, MatRef<Scalar> fz) { cell_->Forward(z, x, fz); };
  forward_summary_.solve = SolveFixedPoint<Scalar>(map, out, options_.forward);
  if (forward_summary_.solve.termination != FixedPointSummary::Termination::kConverged) {
    forward_summary_.warning = "forward solve " + FixedPointSummary::TerminationName(forward_summary_.solve.termination) +
                               ": " + forward_summary_.solve.message;
  }
  if (options_.estimate_spectral_radius) {
    const std::unique_ptr<Linearization<Scalar>> lin = cell_->Linearize(out, x);
    forward_summary_.spectral_radius = EstimateSpectralRadius(*lin, state_dim(), out.cols(), options_.power_iterations);
    if (forward_summary_.spectral_radius >= 1.0) {
      if (!forward_summary_.warning.empty()) forward_summary_.warning += "; ";
      forward_summary_.warning += "spectral radius of df/dz at z* is >= 1: the fixed point may be unstable and the "
                                  "IFT adjoint solve may not converge";
    }
  }
}

template <typename Scalar>
void DeqModel<Scalar>::Forward(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x, MatRef<Scalar> out) const {
  Solve(z0, x, out);
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> DeqModel<Scalar>::Linearize(ConstMatRef<Scalar> z0,
                                                                   ConstMatRef<Scalar> x) const {
  this->CheckInputs(z0, x);
  if (options_.backward == DeqBackward::kUnrolled) {
    // Plain damped iteration, every step stored (for comparison only).
    RequireFinite(x, name() + " input");
    forward_summary_ = DeqForwardSummary{};
    FixedPointSummary& s = forward_summary_.solve;
    const double beta = options_.forward.damping;
    std::vector<std::unique_ptr<Linearization<Scalar>>> steps;
    MatrixX<Scalar> z = z0;
    for (int k = 1; k <= options_.forward.max_iterations; ++k) {
      steps.push_back(cell_->Linearize(z, x));
      const MatrixX<Scalar>& fz = steps.back()->Value();
      double worst = 0.0;
      for (Index j = 0; j < z.cols(); ++j) {
        worst = std::max(worst, static_cast<double>((fz.col(j) - z.col(j)).norm()) /
                                    (static_cast<double>(fz.col(j).norm()) + options_.forward.epsilon));
      }
      z = static_cast<Scalar>(1.0 - beta) * z + static_cast<Scalar>(beta) * fz;
      s.iterations = k;
      s.final_residual = Eigen::VectorXd::Constant(z.cols(), worst);
      if (worst < options_.forward.relative_tolerance) break;
    }
    s.lowest_residual = s.final_residual;
    s.sample_iterations.assign(static_cast<size_t>(z.cols()), s.iterations);
    const bool ok = s.final_residual.size() > 0 && s.final_residual(0) < options_.forward.relative_tolerance;
    s.converged.assign(static_cast<size_t>(z.cols()), ok);
    s.termination = ok ? FixedPointSummary::Termination::kConverged : FixedPointSummary::Termination::kMaxIterations;
    if (!z.allFinite()) {
      s.termination = FixedPointSummary::Termination::kDiverged;
      forward_summary_.warning = "unrolled forward iteration produced non-finite values";
    }
    return std::make_unique<UnrolledLin>(*this, std::move(z), std::move(steps));
  }
  MatrixX<Scalar> z_star(state_dim(), z0.cols());
  Solve(z0, x, z_star);
  std::unique_ptr<Linearization<Scalar>> star = cell_->Linearize(z_star, x);
  std::vector<std::unique_ptr<Linearization<Scalar>>> phantom;
  if (options_.backward == DeqBackward::kPhantom) {
    const Scalar l = static_cast<Scalar>(options_.phantom_damping);
    MatrixX<Scalar> z = z_star;
    for (int i = 0; i < options_.phantom_steps; ++i) {
      phantom.push_back(cell_->Linearize(z, x));
      z = (Scalar(1) - l) * z + l * phantom.back()->Value();
    }
  }
  return std::make_unique<ImplicitLin>(*this, std::move(z_star), std::move(star), std::move(phantom));
}

template <typename Scalar>
double DeqModel<Scalar>::EstimateSpectralRadius(const Linearization<Scalar>& lin, Index state_dim, Index batch,
                                                int iterations, std::uint64_t seed) {
  Rng rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  MatrixX<Scalar> v(state_dim, batch), w(state_dim, batch);
  for (Index j = 0; j < batch; ++j)
    for (Index i = 0; i < state_dim; ++i) v(i, j) = static_cast<Scalar>(normal(rng));
  Eigen::VectorXd estimate = Eigen::VectorXd::Zero(batch);
  for (Index j = 0; j < batch; ++j) v.col(j).normalize();
  for (int k = 0; k < iterations; ++k) {
    lin.VjpState(v, w);
    for (Index j = 0; j < batch; ++j) {
      const double norm = static_cast<double>(w.col(j).norm());
      estimate(j) = norm;
      if (norm > 0.0) {
        v.col(j) = w.col(j) / static_cast<Scalar>(norm);
      }
    }
  }
  return estimate.size() > 0 ? estimate.maxCoeff() : 0.0;
}

template class DeqModel<float>;
template class DeqModel<double>;

}  // namespace implicit
