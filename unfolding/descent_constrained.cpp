#include "unfolding/descent_constrained.hpp"

#include "unfolding/ista.hpp"

#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <sstream>
#include <utility>

namespace implicit {

template <typename Scalar>
Eigen::VectorXd LassoObjective(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b, ConstMatRef<Scalar> x, double lambda) {
  RequireShape(x, a.cols(), b.cols(), "LassoObjective x");
  RequireShape(b, a.rows(), x.cols(), "LassoObjective b");
  MatrixX<Scalar> r = b;
  r.noalias() -= a * x;  // m x B
  Eigen::VectorXd f(x.cols());
  for (Index j = 0; j < x.cols(); ++j) {
    f(j) = 0.5 * r.col(j).template cast<double>().squaredNorm() +
           lambda * x.col(j).template cast<double>().template lpNorm<1>();
  }
  return f;
}

template <typename Scalar>
Eigen::VectorXd ProxGradientMappingNorm(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b, ConstMatRef<Scalar> x,
                                        double lambda, double lipschitz, MatRef<Scalar>* grad) {
  RequireShape(x, a.cols(), b.cols(), "ProxGradientMappingNorm x");
  RequireShape(b, a.rows(), x.cols(), "ProxGradientMappingNorm b");
  if (!(lipschitz > 0.0) || !(lambda >= 0.0)) throw Error("ProxGradientMappingNorm: need L > 0 and lambda >= 0");
  const Index n = x.rows(), batch = x.cols();
  const Scalar inv_l = static_cast<Scalar>(1.0 / lipschitz), l = static_cast<Scalar>(lipschitz);
  const Scalar threshold = static_cast<Scalar>(lambda / lipschitz);
  MatrixX<Scalar> r = -b;
  r.noalias() += a * x;                               // A x - b, m x B
  MatrixX<Scalar> u = x;
  u.noalias() -= inv_l * (a.transpose() * r);         // gradient step, n x B
  // G = L (x - soft(u, lambda / L)); mask = 1[|u| > lambda / L].
  MatrixX<Scalar> g(n, batch), mask(n, batch);
  for (Index j = 0; j < batch; ++j) {
    for (Index i = 0; i < n; ++i) {
      const Scalar ui = u(i, j);
      const bool active = std::abs(ui) > threshold;
      const Scalar soft = active ? ui - std::copysign(threshold, ui) : Scalar(0);
      g(i, j) = l * (x(i, j) - soft);
      mask(i, j) = active ? Scalar(1) : Scalar(0);
    }
  }
  Eigen::VectorXd norms(batch);
  for (Index j = 0; j < batch; ++j) norms(j) = g.col(j).template cast<double>().norm();
  if (grad != nullptr) {
    RequireShape(*grad, n, batch, "ProxGradientMappingNorm gradient");
    // v = G / ||G||; d||G||/dx = (dG/dx)^T v = L v - L D v + A^T A D v (A^T A symmetric).
    MatrixX<Scalar> v(n, batch);
    for (Index j = 0; j < batch; ++j) {
      v.col(j) = norms(j) > 0.0 ? (g.col(j) / static_cast<Scalar>(norms(j))).eval() : VectorX<Scalar>::Zero(n).eval();
    }
    const MatrixX<Scalar> dv = mask.cwiseProduct(v);
    const MatrixX<Scalar> adv = a * dv;  // m x B
    grad->noalias() = l * (v - dv);
    grad->noalias() += a.transpose() * adv;
  }
  return norms;
}

template <typename Scalar>
Eigen::VectorXd LassoObjectiveWithGradient(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b, ConstMatRef<Scalar> x,
                                           double lambda, MatRef<Scalar>* grad) {
  const Eigen::VectorXd f = LassoObjective<Scalar>(a, b, x, lambda);
  if (grad != nullptr) {
    RequireShape(*grad, x.rows(), x.cols(), "LassoObjectiveWithGradient gradient");
    MatrixX<Scalar> r = -b;
    r.noalias() += a * x;  // A x - b
    grad->noalias() = a.transpose() * r;
    const Scalar lam = static_cast<Scalar>(lambda);
    for (Index j = 0; j < x.cols(); ++j)
      for (Index i = 0; i < x.rows(); ++i) {
        const Scalar xi = x(i, j);
        (*grad)(i, j) += xi > 0 ? lam : (xi < 0 ? -lam : Scalar(0));
      }
  }
  return f;
}

void DualAscentStep(Eigen::VectorXd& duals, const Eigen::VectorXd& slacks, double step) {
  if (duals.size() != slacks.size()) {
    throw Error("DualAscentStep: " + std::to_string(duals.size()) + " duals but " + std::to_string(slacks.size()) +
                " slacks");
  }
  if (!(step >= 0.0)) throw Error("DualAscentStep: step must be >= 0");
  duals = (duals + step * slacks).cwiseMax(0.0);
}

bool DescentConstrainedOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& m) {
    if (error != nullptr) *error = m;
    return false;
  };
  if (steps < 0) return fail("steps must be >= 0");
  if (!(epsilon >= 0.0 && epsilon < 1.0)) return fail("epsilon must be in [0, 1)");
  if (!(lambda >= 0.0) || !std::isfinite(lambda)) return fail("lambda must be finite and >= 0");
  if (!(lipschitz >= 0.0) || !std::isfinite(lipschitz)) return fail("lipschitz must be finite and >= 0 (0 = estimate)");
  if (!(learning_rate > 0.0) || !(min_learning_rate >= 0.0) || min_learning_rate > learning_rate) {
    return fail("need learning_rate > 0 and 0 <= min_learning_rate <= learning_rate");
  }
  if (!adam.IsValid(error)) return false;
  if (!(dual_learning_rate >= 0.0) || !std::isfinite(dual_learning_rate)) return fail("dual_learning_rate must be >= 0");
  if (!(initial_dual >= 0.0) || !std::isfinite(initial_dual)) return fail("initial_dual must be >= 0");
  if (!(noise_std >= 0.0) || !std::isfinite(noise_std)) return fail("noise_std must be finite and >= 0");
  if (!(clip_norm >= 0.0)) return fail("clip_norm must be >= 0");
  if (!(form.hinge_tolerance >= 0.0) || !std::isfinite(form.hinge_tolerance)) return fail("hinge_tolerance must be >= 0");
  if (record_every < 1) return fail("record_every must be >= 1");
  return true;
}

std::string DescentConstrainedSummary::BriefReport() const {
  std::ostringstream out;
  const char* kind = termination == Termination::kCompleted ? "COMPLETED"
                     : termination == Termination::kStopped ? "STOPPED"
                                                            : "DIVERGED";
  out << "descent-constrained training: " << kind << ", " << steps << " steps, final loss " << final_loss << ", "
      << seconds << " s";
  if (slacks.size() > 0) {
    out << ", max slack " << slacks.maxCoeff() << ", max dual " << duals.maxCoeff();
  }
  if (!message.empty()) out << " (" << message << ")";
  return out.str();
}

template <typename Scalar>
LagrangianEvaluation EvaluateLagrangian(const UnrolledNetwork<Scalar>& net, ConstMatRef<Scalar> a,
                                        ConstMatRef<Scalar> inputs, ConstMatRef<Scalar> targets,
                                        const Eigen::VectorXd& duals, double epsilon, double lambda,
                                        double lipschitz, const std::vector<MatrixX<Scalar>>& noise,
                                        VecRef<Scalar>* grad, const ConstraintForm& form) {
  const Index n = a.cols(), batch = inputs.cols();
  const Index depth = net.active_depth();
  if (net.state_dim() != n || net.input_dim() != a.rows()) {
    throw Error("descent-constrained training: the network's state/input dims (" + std::to_string(net.state_dim()) +
                ", " + std::to_string(net.input_dim()) + ") must be A's columns/rows (" + std::to_string(n) + ", " +
                std::to_string(a.rows()) + ")");
  }
  RequireShape(targets, n, batch, "descent-constrained targets");
  if (duals.size() != depth) throw Error("descent-constrained training: need one dual per active layer");
  if (!noise.empty() && static_cast<Index>(noise.size()) != depth - 1) {
    throw Error("descent-constrained training: need K - 1 noise matrices (or none)");
  }
  // Forward, keeping every layer's linearisation and output x_l (l = 0..K).
  std::vector<std::unique_ptr<Linearization<Scalar>>> lins;
  std::vector<MatrixX<Scalar>> xs;
  xs.reserve(static_cast<size_t>(depth + 1));
  xs.push_back(MatrixX<Scalar>::Zero(n, batch));
  for (Index k = 0; k < depth; ++k) {
    lins.push_back(net.layer(k).Linearize(xs.back(), inputs));
    MatrixX<Scalar> next = lins.back()->Value();
    if (!noise.empty() && k + 1 < depth) {
      RequireShape(noise[static_cast<size_t>(k)], n, batch, "injected noise");
      next += noise[static_cast<size_t>(k)];
    }
    xs.push_back(std::move(next));
  }
  LagrangianEvaluation e;
  MatrixX<Scalar> grad_out(n, batch);
  e.loss = EvaluateLoss<Scalar>(LossKind::kHalfSquaredError, xs.back(), targets, grad_out);
  // ||G(x_l)|| per sample and, for l >= 1, its gradient.
  std::vector<MatrixX<Scalar>> norm_grads(static_cast<size_t>(depth + 1));
  Eigen::MatrixXd norms(batch, depth + 1);
  const bool log_objective = form.measure == DescentMeasure::kLogObjective;
  const bool objective = form.measure == DescentMeasure::kObjective || log_objective;
  for (Index l = 0; l <= depth; ++l) {
    const ConstMatRef<Scalar> xl(xs[static_cast<size_t>(l)]);
    if (l == 0 || grad == nullptr) {
      norms.col(l) = objective ? LassoObjectiveWithGradient<Scalar>(a, inputs, xl, lambda, nullptr)
                               : ProxGradientMappingNorm<Scalar>(a, inputs, xl, lambda, lipschitz);
    } else {
      MatrixX<Scalar>& ng = norm_grads[static_cast<size_t>(l)];
      ng.resize(n, batch);
      MatRef<Scalar> ref(ng);
      norms.col(l) = objective ? LassoObjectiveWithGradient<Scalar>(a, inputs, xl, lambda, &ref)
                               : ProxGradientMappingNorm<Scalar>(a, inputs, xl, lambda, lipschitz, &ref);
    }
    if (log_objective) {  // m = log F, dm/dx = (dF/dx) / F
      for (Index j = 0; j < batch; ++j) {
        const double f = std::max(norms(j, l), 1e-300);
        norms(j, l) = std::log(f);
        if (l > 0 && grad != nullptr) norm_grads[static_cast<size_t>(l)].col(j) /= static_cast<Scalar>(f);
      }
    }
  }
  e.mapping_norm = norms.colwise().mean().transpose();
  // Per-sample constraint values d_jl = ||G(x_l^j)|| - (1 - eps) ||G(x_{l-1}^j)||
  // and the weight each sample's d_jl has in s_l (1/B; hinge: 1/B where d_jl > 0).
  const double inv_b = 1.0 / static_cast<double>(batch);
  // Coefficient of m(x_{l-1}) in d_jl: (1 - eps), or 1 for log F (eps enters as -log(1 - eps)).
  const double previous_weight = log_objective ? 1.0 : 1.0 - epsilon;
  Eigen::MatrixXd weight(batch, depth);
  e.slacks.resize(depth);
  for (Index l = 1; l <= depth; ++l) {
    Eigen::VectorXd d = norms.col(l) - previous_weight * norms.col(l - 1);
    if (log_objective) d.array() -= std::log(1.0 - epsilon);
    if (form.per_sample_hinge) {
      weight.col(l - 1) = (d.array() > 0.0).cast<double>() * inv_b;
      e.slacks(l - 1) = d.cwiseMax(0.0).mean() -
                        form.hinge_tolerance * (log_objective ? 1.0 : e.mapping_norm(l - 1));
    } else {
      weight.col(l - 1).setConstant(inv_b);
      e.slacks(l - 1) = d.mean();
    }
  }
  e.lagrangian = e.loss + duals.dot(e.slacks);
  if (grad == nullptr) return e;
  if (grad->size() != net.parameters().size()) throw Error("descent-constrained training: gradient has the wrong size");
  // Backward: cotangent of x_l = chain from layer l+1 + diag(c_l) d||G(x_l)||/dx_l
  // with, per sample j, c_jl = mu_l w_jl - mu_{l+1} ((1 - eps) w_j,l+1 + tau / B)
  // (mu_{K+1} = 0; tau = the hinge tolerance, 0 in the expectation form).
  // Noise is additive: its Jacobian is the identity.
  auto add_constraint_term = [&](Index l, MatrixX<Scalar>& cotangent) {  // l = 1..K
    const MatrixX<Scalar>& ng = norm_grads[static_cast<size_t>(l)];
    for (Index j = 0; j < batch; ++j) {
      double c = duals(l - 1) * weight(j, l - 1);
      if (l < depth) {
        const double tau = form.per_sample_hinge && !log_objective ? form.hinge_tolerance * inv_b : 0.0;
        c -= duals(l) * (previous_weight * weight(j, l) + tau);
      }
      if (c != 0.0) cotangent.col(j) += static_cast<Scalar>(c) * ng.col(j);
    }
  };
  MatrixX<Scalar> current = grad_out;
  add_constraint_term(depth, current);
  MatrixX<Scalar> previous(n, batch);
  VectorX<Scalar> layer_grad;
  for (Index k = depth - 1; k >= 0; --k) {
    const Linearization<Scalar>& lin = *lins[static_cast<size_t>(k)];
    const std::vector<Index> indices = net.LayerParameterIndices(k);
    layer_grad.setZero(static_cast<Index>(indices.size()));
    lin.VjpParams(current, layer_grad);
    for (size_t i = 0; i < indices.size(); ++i) (*grad)(indices[i]) += layer_grad(static_cast<Index>(i));
    if (k == 0) break;
    lin.VjpState(current, previous);
    add_constraint_term(k, previous);
    current.swap(previous);
  }
  return e;
}

template <typename Scalar>
DescentConstrainedSummary TrainDescentConstrained(UnrolledNetwork<Scalar>& net, ConstMatRef<Scalar> a,
                                                  const BatchSource<Scalar>& source,
                                                  const DescentConstrainedOptions& options,
                                                  const DescentConstrainedCallbacks& callbacks) {
  std::string error;
  if (!options.IsValid(&error)) throw Error("descent-constrained options: " + error);
  net.set_active_depth(net.depth());
  const Index depth = net.depth(), n = a.cols();
  const double lipschitz = options.lipschitz > 0.0 ? options.lipschitz : EstimateLipschitz<Scalar>(a);
  const Index num_params = net.parameters().size();
  AdamOptions adam_options = options.adam;
  adam_options.learning_rate = options.learning_rate;
  Adam<Scalar> adam(num_params, adam_options);
  LearningRateSchedule schedule;
  schedule.kind = LearningRateSchedule::Kind::kCosine;
  schedule.base = options.learning_rate;
  schedule.total_steps = std::max<std::int64_t>(options.steps, 1);
  schedule.min_lr = options.min_learning_rate;
  Rng noise_rng(options.noise_seed);
  std::normal_distribution<double> normal(0.0, 1.0);

  DescentConstrainedSummary summary;
  summary.duals = Eigen::VectorXd::Constant(depth, options.constrained ? options.initial_dual : 0.0);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  MatrixX<Scalar> inputs, targets;
  VectorX<Scalar> grad(num_params);
  std::vector<MatrixX<Scalar>> noise;
  for (std::int64_t step = 0; step < options.steps; ++step) {
    source(step, inputs, targets);
    if (inputs.rows() != a.rows() || targets.rows() != n || inputs.cols() != targets.cols()) {
      throw Error("descent-constrained training: batch has the wrong shape: inputs " + std::to_string(inputs.rows()) +
                  "x" + std::to_string(inputs.cols()) + ", targets " + std::to_string(targets.rows()) + "x" +
                  std::to_string(targets.cols()));
    }
    noise.clear();
    if (options.noise_std > 0.0) {
      for (Index k = 0; k + 1 < depth; ++k) {
        MatrixX<Scalar> e(n, inputs.cols());
        for (Index j = 0; j < e.cols(); ++j)
          for (Index i = 0; i < n; ++i) e(i, j) = static_cast<Scalar>(options.noise_std * normal(noise_rng));
        noise.push_back(std::move(e));
      }
    }
    grad.setZero();
    VecRef<Scalar> grad_ref(grad);
    const LagrangianEvaluation e =
        EvaluateLagrangian<Scalar>(net, a, inputs, targets, summary.duals, options.epsilon, options.lambda, lipschitz,
                                   noise, &grad_ref, options.form);
    const double grad_norm = static_cast<double>(grad.template cast<double>().norm());
    if (!std::isfinite(e.lagrangian) || !std::isfinite(grad_norm) || !e.slacks.allFinite()) {
      summary.termination = DescentConstrainedSummary::Termination::kDiverged;
      summary.message = "non-finite loss, slack or gradient at step " + std::to_string(step + 1);
      break;
    }
    if (options.clip_norm > 0.0) ClipGradientNorm<Scalar>(grad, options.clip_norm);
    const double lr = schedule.At(step);
    adam.set_learning_rate(lr);
    adam.Step(net.parameters().Flat(), grad);
    const Eigen::VectorXd duals_before = summary.duals;
    if (options.constrained) DualAscentStep(summary.duals, e.slacks, options.dual_learning_rate);
    summary.steps = step + 1;
    summary.final_loss = e.loss;
    summary.slacks = e.slacks;
    if ((step + 1) % options.record_every == 0 || step + 1 == options.steps) {
      summary.records.push_back({step + 1, e.loss, e.lagrangian, lr, elapsed(), duals_before, e.slacks});
      if (callbacks.on_record) callbacks.on_record(summary.records.back());
    }
    if (callbacks.should_stop && step + 1 < options.steps && callbacks.should_stop()) {
      summary.termination = DescentConstrainedSummary::Termination::kStopped;
      summary.message = "stopped after step " + std::to_string(step + 1);
      break;
    }
  }
  summary.seconds = elapsed();
  return summary;
}

template <typename Scalar>
DescentEvaluation EvaluateDescent(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b,
                                  const std::vector<MatrixX<Scalar>>& iterates, double lambda, double lipschitz,
                                  double epsilon) {
  if (iterates.size() < 2) throw Error("EvaluateDescent: need x_0 and at least one layer output");
  const Index n = a.cols(), batch = b.cols(), depth = static_cast<Index>(iterates.size()) - 1;
  Eigen::MatrixXd f(batch, depth + 1), g(batch, depth + 1);
  for (Index l = 0; l <= depth; ++l) {
    const MatrixX<Scalar>& x = iterates[static_cast<size_t>(l)];
    if (x.rows() < n || x.cols() != batch) throw Error("EvaluateDescent: iterate " + std::to_string(l) + " has the wrong shape");
    const MatrixX<Scalar> z = x.topRows(n);
    f.col(l) = LassoObjective<Scalar>(a, b, z, lambda);
    g.col(l) = ProxGradientMappingNorm<Scalar>(a, b, z, lambda, lipschitz);
  }
  DescentEvaluation e;
  e.objective = f.colwise().mean().transpose();
  e.mapping_norm = g.colwise().mean().transpose();
  e.slacks.resize(depth);
  for (Index l = 1; l <= depth; ++l) e.slacks(l - 1) = e.mapping_norm(l) - (1.0 - epsilon) * e.mapping_norm(l - 1);
  Index descending = 0, satisfying = 0;
  e.layer_descent_rate = Eigen::VectorXd::Zero(depth);
  for (Index j = 0; j < batch; ++j) {
    bool descent = std::isfinite(f(j, 0)), constraint = true;
    for (Index l = 1; l <= depth; ++l) {
      const bool layer_descends = std::isfinite(f(j, l)) && f(j, l) <= f(j, l - 1);
      e.layer_descent_rate(l - 1) += layer_descends ? 1.0 / static_cast<double>(batch) : 0.0;
      descent = descent && layer_descends;
      constraint = constraint && g(j, l) <= (1.0 - epsilon) * g(j, l - 1);
    }
    descending += descent ? 1 : 0;
    satisfying += constraint ? 1 : 0;
  }
  e.descent_rate = static_cast<double>(descending) / static_cast<double>(batch);
  e.per_sample_constraint_rate = static_cast<double>(satisfying) / static_cast<double>(batch);
  e.sample_objective = std::move(f);
  return e;
}

template <typename Scalar>
std::vector<MatrixX<Scalar>> NetworkIterates(const UnrolledNetwork<Scalar>& net, ConstMatRef<Scalar> b) {
  std::vector<MatrixX<Scalar>> outputs;
  const MatrixX<Scalar> z0 = MatrixX<Scalar>::Zero(net.state_dim(), b.cols());
  net.ForwardAllLayers(z0, b, outputs);
  outputs.insert(outputs.begin(), z0);
  return outputs;
}

#define IMPLICIT_INSTANTIATE(S)                                                                                   \
  template Eigen::VectorXd LassoObjective<S>(ConstMatRef<S>, ConstMatRef<S>, ConstMatRef<S>, double);            \
  template Eigen::VectorXd LassoObjectiveWithGradient<S>(ConstMatRef<S>, ConstMatRef<S>, ConstMatRef<S>, double,  \
                                                         MatRef<S>*);                                             \
  template Eigen::VectorXd ProxGradientMappingNorm<S>(ConstMatRef<S>, ConstMatRef<S>, ConstMatRef<S>, double,    \
                                                      double, MatRef<S>*);                                        \
  template LagrangianEvaluation EvaluateLagrangian<S>(const UnrolledNetwork<S>&, ConstMatRef<S>, ConstMatRef<S>,  \
                                                      ConstMatRef<S>, const Eigen::VectorXd&, double, double,     \
                                                      double, const std::vector<MatrixX<S>>&, VecRef<S>*,   \
                                                      const ConstraintForm&);        \
  template DescentConstrainedSummary TrainDescentConstrained<S>(UnrolledNetwork<S>&, ConstMatRef<S>,              \
                                                                const BatchSource<S>&,                            \
                                                                const DescentConstrainedOptions&,                 \
                                                                const DescentConstrainedCallbacks&);              \
  template DescentEvaluation EvaluateDescent<S>(ConstMatRef<S>, ConstMatRef<S>, const std::vector<MatrixX<S>>&,   \
                                                double, double, double);                                          \
  template std::vector<MatrixX<S>> NetworkIterates<S>(const UnrolledNetwork<S>&, ConstMatRef<S>);
IMPLICIT_INSTANTIATE(float)
IMPLICIT_INSTANTIATE(double)
#undef IMPLICIT_INSTANTIATE

}  // namespace implicit
