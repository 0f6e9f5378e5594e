#include "unfolding/ceres_trainer.hpp"

#include <ceres/gradient_problem.h>
#include <ceres/gradient_problem_solver.h>
#include <ceres/iteration_callback.h>
#include <ceres/problem.h>
#include <ceres/solver.h>
#include <ceres/types.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <sstream>

namespace implicit {

namespace {

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void CheckTrainingSet(const Operator<double>& model, const Eigen::MatrixXd& inputs,
                      const Eigen::MatrixXd& targets) {
  if (inputs.rows() != model.input_dim()) {
    throw Error("TrainWithCeres: inputs have " + std::to_string(inputs.rows()) + " rows, the model (" +
                model.name() + ") expects input_dim " + std::to_string(model.input_dim()));
  }
  if (targets.rows() != model.state_dim()) {
    throw Error("TrainWithCeres: targets have " + std::to_string(targets.rows()) +
                " rows, the model (" + model.name() + ") has state_dim " +
                std::to_string(model.state_dim()));
  }
  if (inputs.cols() != targets.cols()) {
    throw Error("TrainWithCeres: " + std::to_string(inputs.cols()) + " input samples but " +
                std::to_string(targets.cols()) + " targets");
  }
  if (inputs.cols() == 0) throw Error("TrainWithCeres: the training set is empty");
}

}  // namespace

// ---------------------------------------------------------------------------
// Options and summary

bool CeresTrainerOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& m) {
    if (error != nullptr) *error = m;
    return false;
  };
  if (method != Method::kLevenbergMarquardt && method != Method::kLbfgs) {
    return fail("method must be kLevenbergMarquardt or kLbfgs");
  }
  if (max_iterations < 1) return fail("max_iterations must be >= 1, got " + std::to_string(max_iterations));
  auto tolerance_ok = [](double t) { return std::isfinite(t) && t >= 0.0; };
  if (!tolerance_ok(function_tolerance)) return fail("function_tolerance must be finite and >= 0");
  if (!tolerance_ok(gradient_tolerance)) return fail("gradient_tolerance must be finite and >= 0");
  if (!tolerance_ok(parameter_tolerance)) return fail("parameter_tolerance must be finite and >= 0");
  if (!(jacobian_step > 0.0 && jacobian_step <= 0.1)) {
    return fail("jacobian_step must be in (0, 0.1] (a relative finite-difference step), got " +
                std::to_string(jacobian_step));
  }
  if (threads < 1) return fail("threads must be >= 1, got " + std::to_string(threads));
  if (stop_when && !metric) return fail("stop_when needs a metric to test (metric is empty)");
  return true;
}

CeresTrainerOptions::Method ParseCeresTrainerMethod(const std::string& name) {
  if (name == "levenberg_marquardt" || name == "lm") return CeresTrainerOptions::Method::kLevenbergMarquardt;
  if (name == "lbfgs") return CeresTrainerOptions::Method::kLbfgs;
  throw Error("unknown Ceres trainer method '" + name + "' (expected levenberg_marquardt, lm or lbfgs)");
}

std::string CeresTrainerSummary::BriefReport() const {
  std::ostringstream out;
  out << "ceres training: " << termination << (usable ? "" : " (solution NOT usable)") << ", "
      << iterations << " iterations, loss " << initial_loss << " -> " << final_loss << ", " << seconds
      << " s";
  if (!metric_trace.empty()) out << ", last metric " << metric_trace.back();
  if (!message.empty()) out << " (" << message << ")";
  return out.str();
}

double TrainingSetLoss(const Operator<double>& model, const Eigen::MatrixXd& inputs,
                       const Eigen::MatrixXd& targets) {
  CheckTrainingSet(model, inputs, targets);
  const Eigen::MatrixXd z0 = Eigen::MatrixXd::Zero(model.state_dim(), inputs.cols());
  Eigen::MatrixXd out(model.state_dim(), inputs.cols());
  model.Forward(z0, inputs, out);
  if (!out.allFinite()) return std::numeric_limits<double>::infinity();
  const double loss = 0.5 * (out - targets).squaredNorm();
  return std::isfinite(loss) ? loss : std::numeric_limits<double>::infinity();
}

// ---------------------------------------------------------------------------
// Levenberg-Marquardt residual block
//
// Why the Jacobian is built by perturbing parameters and not from VJPs: it is
// R x P with R = state_dim * S residuals (8000 for 40 x 200) and P parameters
// (8 for a 4-layer ALISTA). A VJP gives one ROW of J (or, with the summed
// VjpParams of the contract, one combination of rows) per backward pass, so
// the full Jacobian would cost R backward passes; a perturbation gives one
// whole COLUMN per (pair of) forward pass(es), so 2P forward passes suffice.
// Forward-mode JVPs would give exact columns at the same cost, but the
// Operator contract has no JVP yet; when it gets one, this is the place to use
// it. (L-BFGS only needs J^T r, which IS one VJP: it uses the exact gradient.)

TrainingSetCostFunction::TrainingSetCostFunction(Operator<double>& model, const Eigen::MatrixXd& inputs,
                                                 const Eigen::MatrixXd& targets, double jacobian_step)
    : model_(model), inputs_(inputs), targets_(targets), jacobian_step_(jacobian_step) {
  CheckTrainingSet(model, inputs, targets);
  if (!(jacobian_step > 0.0)) throw Error("TrainingSetCostFunction: jacobian_step must be > 0");
  const Index p = model.parameters().size();
  const Index r = targets.size();
  if (p < 1) throw Error("TrainingSetCostFunction: the model (" + model.name() + ") has no parameters");
  const Index max_int = std::numeric_limits<int>::max();
  if (r > max_int || p > max_int || r > max_int / p) {
    throw Error("TrainingSetCostFunction: " + std::to_string(r) + " residuals x " + std::to_string(p) +
                " parameters is too large for a dense Ceres Jacobian");
  }
  set_num_residuals(static_cast<int>(r));
  mutable_parameter_block_sizes()->push_back(static_cast<int>(p));
  z0_ = Eigen::MatrixXd::Zero(model.state_dim(), inputs.cols());
}

bool TrainingSetCostFunction::ForwardFinite(MatrixX<double>& out) const {
  out.resize(model_.state_dim(), inputs_.cols());
  model_.Forward(z0_, inputs_, out);
  return out.allFinite();
}

bool TrainingSetCostFunction::Evaluate(double const* const* parameters, double* residuals,
                                       double** jacobians) const {
  if (error_) return false;
  try {
    return EvaluateImpl(parameters, residuals, jacobians);
  } catch (...) {
    error_ = std::current_exception();
    return false;
  }
}

bool TrainingSetCostFunction::EvaluateImpl(double const* const* parameters, double* residuals,
                                           double** jacobians) const {
  const Index p = model_.parameters().size();
  Eigen::Map<Eigen::VectorXd> theta = model_.parameters().Flat();
  theta = Eigen::Map<const Eigen::VectorXd>(parameters[0], p);
  if (!ForwardFinite(center_)) return false;
  const Index r = targets_.size();
  Eigen::Map<Eigen::VectorXd> residual(residuals, r);
  residual = (center_ - targets_).reshaped();
  if (!residual.allFinite()) return false;  // (overflow of a huge output)
  if (jacobians == nullptr || jacobians[0] == nullptr) return true;

  // Column i of J = d residuals / d theta_i by central differences (one-sided
  // on the finite side if one of the two perturbed outputs is not finite).
  Eigen::Map<RowMajorMatrix> jacobian(jacobians[0], r, p);
  bool ok = true;
  for (Index i = 0; i < p && ok; ++i) {
    const double value = parameters[0][i];
    const double h = jacobian_step_ * std::max(1.0, std::abs(value));
    const double up = value + h, down = value - h;  // the steps actually taken are up - value etc.
    theta(i) = up;
    const bool plus_ok = ForwardFinite(plus_);
    theta(i) = down;
    const bool minus_ok = ForwardFinite(minus_);
    theta(i) = value;
    if (plus_ok && minus_ok) {
      jacobian.col(i) = (plus_ - minus_).reshaped() / (up - down);
    } else if (plus_ok) {
      jacobian.col(i) = (plus_ - center_).reshaped() / (up - value);
    } else if (minus_ok) {
      jacobian.col(i) = (center_ - minus_).reshaped() / (value - down);
    } else {
      ok = false;
    }
  }
  return ok && jacobian.allFinite();
}

// ---------------------------------------------------------------------------
// L-BFGS objective with the exact gradient

TrainingSetGradientFunction::TrainingSetGradientFunction(Operator<double>& model,
                                                         const Eigen::MatrixXd& inputs,
                                                         const Eigen::MatrixXd& targets)
    : model_(model), inputs_(inputs), targets_(targets) {
  CheckTrainingSet(model, inputs, targets);
  const Index p = model.parameters().size();
  if (p < 1) throw Error("TrainingSetGradientFunction: the model (" + model.name() + ") has no parameters");
  if (p > std::numeric_limits<int>::max()) throw Error("TrainingSetGradientFunction: too many parameters");
  num_parameters_ = static_cast<int>(p);
  z0_ = Eigen::MatrixXd::Zero(model.state_dim(), inputs.cols());
}

bool TrainingSetGradientFunction::Evaluate(const double* parameters, double* cost, double* gradient) const {
  if (error_) return false;
  try {
    return EvaluateImpl(parameters, cost, gradient);
  } catch (...) {
    error_ = std::current_exception();
    return false;
  }
}

bool TrainingSetGradientFunction::EvaluateImpl(const double* parameters, double* cost,
                                               double* gradient) const {
  const Index p = num_parameters_;
  model_.parameters().Flat() = Eigen::Map<const Eigen::VectorXd>(parameters, p);
  if (gradient == nullptr) {
    output_.resize(model_.state_dim(), inputs_.cols());
    model_.Forward(z0_, inputs_, output_);
    if (!output_.allFinite()) return false;
    *cost = 0.5 * (output_ - targets_).squaredNorm();
    return std::isfinite(*cost);
  }
  // The linearisation reads the parameters set above; it dies before they change.
  const std::unique_ptr<Linearization<double>> lin = model_.Linearize(z0_, inputs_);
  if (!lin->Value().allFinite()) return false;
  output_ = lin->Value() - targets_;  // the residual, also the cotangent of 0.5 ||r||^2
  *cost = 0.5 * output_.squaredNorm();
  if (!std::isfinite(*cost)) return false;
  Eigen::Map<Eigen::VectorXd> grad(gradient, p);
  grad.setZero();
  lin->VjpParams(output_, grad);
  return grad.allFinite();
}

// ---------------------------------------------------------------------------
// The trainer

namespace {

// Records the traces, remembers the best iterate seen, evaluates the metric
// and applies stop_when. Requires update_state_every_iteration = true (the
// parameter block `theta` then holds the current iterate when it runs).
class TraceCallback final : public ceres::IterationCallback {
 public:
  TraceCallback(Operator<double>& model, const Eigen::VectorXd& theta, const CeresTrainerOptions& options,
                CeresTrainerSummary& summary, std::chrono::steady_clock::time_point start)
      : model_(model), theta_(theta), options_(options), summary_(summary), start_(start) {}

  // The error slot of the cost function in use: a caught model exception
  // aborts the solve at the end of the iteration.
  void WatchEvaluationError(const std::exception_ptr* evaluation_error) { evaluation_error_ = evaluation_error; }

  ceres::CallbackReturnType operator()(const ceres::IterationSummary& s) override {
    if (evaluation_error_ != nullptr && *evaluation_error_) return ceres::SOLVER_ABORT;
    // For a rejected LM step Ceres reports the CANDIDATE's cost, while the
    // iterate (theta_) stays where it was: keep the current iterate's cost.
    if (s.iteration == 0 || s.step_is_successful || !std::isfinite(current_cost_)) current_cost_ = s.cost;
    summary_.loss_trace.push_back(current_cost_);
    summary_.time_trace.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    if (std::isfinite(current_cost_) && current_cost_ < best_cost_ && theta_.allFinite()) {
      best_cost_ = current_cost_;
      best_ = theta_;
    }
    if (!options_.metric) return ceres::SOLVER_CONTINUE;
    // Ceres never calls this concurrently with a cost evaluation, so the
    // model can be borrowed; the next evaluation sets its parameters again.
    model_.parameters().Flat() = theta_;
    try {
      const double value = options_.metric();
      summary_.metric_trace.push_back(value);
      if (options_.stop_when && options_.stop_when(value)) return ceres::SOLVER_TERMINATE_SUCCESSFULLY;
    } catch (...) {
      // Do not unwind through Ceres: stop it and rethrow after Solve.
      error_ = std::current_exception();
      return ceres::SOLVER_ABORT;
    }
    return ceres::SOLVER_CONTINUE;
  }

  void SeedBest(const Eigen::VectorXd& theta, double cost) {
    best_ = theta;
    best_cost_ = cost;
  }
  const Eigen::VectorXd& best() const { return best_; }
  const std::exception_ptr& error() const { return error_; }

 private:
  Operator<double>& model_;
  const Eigen::VectorXd& theta_;
  const CeresTrainerOptions& options_;
  CeresTrainerSummary& summary_;
  std::chrono::steady_clock::time_point start_;
  const std::exception_ptr* evaluation_error_ = nullptr;
  Eigen::VectorXd best_;
  double best_cost_ = std::numeric_limits<double>::infinity();
  double current_cost_ = std::numeric_limits<double>::infinity();  // cost at theta_
  std::exception_ptr error_;
};

}  // namespace

CeresTrainerSummary TrainWithCeres(Operator<double>& model, const Eigen::MatrixXd& inputs,
                                   const Eigen::MatrixXd& targets, const CeresTrainerOptions& options) {
  std::string error;
  if (!options.IsValid(&error)) throw Error("ceres trainer options: " + error);
  CheckTrainingSet(model, inputs, targets);
  RequireFinite(inputs, "TrainWithCeres inputs");
  RequireFinite(targets, "TrainWithCeres targets");
  if (model.parameters().size() < 1) {
    throw Error("TrainWithCeres: the model (" + model.name() + ") has no parameters to train");
  }
  RequireFinite(model.parameters().Flat(), "TrainWithCeres initial parameters");

  const auto start = std::chrono::steady_clock::now();
  CeresTrainerSummary summary;
  summary.initial_loss = TrainingSetLoss(model, inputs, targets);
  if (!std::isfinite(summary.initial_loss)) {
    throw Error("TrainWithCeres: the model's output (" + model.name() +
                ") at the initial parameters is not finite");
  }

  // Ceres' parameter block (the "user state"): updated every iteration so the
  // callback sees the current iterate, and holding the solution at the end.
  Eigen::VectorXd theta = model.parameters().Flat();
  TraceCallback callback(model, theta, options, summary, start);
  callback.SeedBest(theta, summary.initial_loss);

  ceres::TerminationType termination = ceres::FAILURE;
  std::exception_ptr evaluation_error;  // a model exception caught inside Ceres
  if (options.method == CeresTrainerOptions::Method::kLevenbergMarquardt) {
    ceres::Problem problem;  // takes ownership of the cost function
    auto* cost = new TrainingSetCostFunction(model, inputs, targets, options.jacobian_step);
    problem.AddResidualBlock(cost, nullptr, theta.data());
    callback.WatchEvaluationError(&cost->error());
    ceres::Solver::Options solver_options;
    solver_options.minimizer_type = ceres::TRUST_REGION;
    solver_options.trust_region_strategy_type = ceres::LEVENBERG_MARQUARDT;
    // Dense: J is R x P with P small (tens of parameters), so a dense QR costs
    // O(R P^2), as cheap as the 2P forward passes that build J; QR rather than
    // the normal equations (DENSE_NORMAL_CHOLESKY) because it does not square
    // J's condition number, and parameters of different scales (gamma ~ 1/L,
    // theta ~ lambda/L) make J poorly scaled.
    solver_options.linear_solver_type = ceres::DENSE_QR;
    solver_options.max_num_iterations = options.max_iterations;
    solver_options.function_tolerance = options.function_tolerance;
    solver_options.gradient_tolerance = options.gradient_tolerance;
    solver_options.parameter_tolerance = options.parameter_tolerance;
    solver_options.num_threads = options.threads;
    solver_options.logging_type = options.verbose ? ceres::PER_MINIMIZER_ITERATION : ceres::SILENT;
    solver_options.minimizer_progress_to_stdout = options.verbose;
    solver_options.update_state_every_iteration = true;
    solver_options.callbacks.push_back(&callback);
    if (!solver_options.IsValid(&error)) throw Error("TrainWithCeres: Ceres rejected the options: " + error);
    ceres::Solver::Summary ceres_summary;
    ceres::Solve(solver_options, &problem, &ceres_summary);
    termination = ceres_summary.termination_type;
    summary.ceres_report = ceres_summary.BriefReport();
    summary.message = ceres_summary.message;
    summary.usable = ceres_summary.IsSolutionUsable();
    summary.iterations = std::max(0, static_cast<int>(ceres_summary.iterations.size()) - 1);
    evaluation_error = cost->error();
    callback.WatchEvaluationError(nullptr);
  } else {
    auto* function = new TrainingSetGradientFunction(model, inputs, targets);
    ceres::GradientProblem problem(function);  // takes ownership of the function
    callback.WatchEvaluationError(&function->error());
    ceres::GradientProblemSolver::Options solver_options;
    solver_options.line_search_direction_type = ceres::LBFGS;
    solver_options.max_num_iterations = options.max_iterations;
    solver_options.function_tolerance = options.function_tolerance;
    solver_options.gradient_tolerance = options.gradient_tolerance;
    solver_options.parameter_tolerance = options.parameter_tolerance;
    solver_options.logging_type = options.verbose ? ceres::PER_MINIMIZER_ITERATION : ceres::SILENT;
    solver_options.minimizer_progress_to_stdout = options.verbose;
    solver_options.update_state_every_iteration = true;
    solver_options.callbacks.push_back(&callback);
    if (!solver_options.IsValid(&error)) throw Error("TrainWithCeres: Ceres rejected the options: " + error);
    ceres::GradientProblemSolver::Summary ceres_summary;
    ceres::Solve(solver_options, problem, theta.data(), &ceres_summary);
    termination = ceres_summary.termination_type;
    summary.ceres_report = ceres_summary.BriefReport();
    summary.message = ceres_summary.message;
    summary.usable = ceres_summary.IsSolutionUsable();
    summary.iterations = std::max(0, static_cast<int>(ceres_summary.iterations.size()) - 1);
    evaluation_error = function->error();
    callback.WatchEvaluationError(nullptr);
  }
  summary.termination = ceres::TerminationTypeToString(termination);

  // Ceres leaves its solution in `theta`, while the model holds whatever was
  // evaluated last (a trial step or a finite-difference perturbation).
  // Usable: Ceres' solution (the last accepted iterate = the lowest cost for
  // LM and the Wolfe line search). Otherwise the best iterate seen.
  if (summary.usable && theta.allFinite()) {
    model.parameters().Flat() = theta;
  } else {
    model.parameters().Flat() = callback.best();
  }
  if (evaluation_error) std::rethrow_exception(evaluation_error);
  if (callback.error()) std::rethrow_exception(callback.error());
  summary.final_loss = TrainingSetLoss(model, inputs, targets);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace implicit
