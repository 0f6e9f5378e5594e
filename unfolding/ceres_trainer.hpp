// Training models with FEW parameters (ALISTA: 2K scalars gamma_k, theta_k;
// TiLISTA's scalars) as a deterministic optimisation over a FIXED training set,
// with Ceres Solver instead of stochastic Adam steps:
//
//   minimise over theta   L(theta) = 0.5 * sum_j || f_theta(0; x_j) - t_j ||^2
//
// inputs X: input_dim x S, targets T: state_dim x S (one sample per column),
// z0 = 0, f any Operator<double> (typically an UnrolledNetwork<double>). This
// is Ceres' own cost convention (cost = 0.5 * ||r||^2), so Ceres' reported
// costs ARE the loss. Note: a SUM over samples, not the mean that
// HalfSquaredErrorLoss (unfolding/trainer) uses, i.e. S times that loss.
//
// Two methods:
//  * Levenberg-Marquardt (default): a nonlinear least-squares Problem with ONE
//    residual block (TrainingSetCostFunction): one parameter block = the
//    model's flat parameter vector (P entries), residuals = all state_dim * S
//    errors. Its Jacobian (R x P) is computed by central differences per
//    parameter over the whole training set: 2P forward passes (see the .cpp
//    for why not VJPs). Linear solver: DENSE_QR (P is small, see the .cpp).
//  * L-BFGS: a ceres::GradientProblem (TrainingSetGradientFunction) with the
//    EXACT gradient J^T r: one Linearize of the model on the training set and
//    VjpParams with the residual as the cotangent.
//
// Non-finite model outputs (or gradients) make the evaluation return false:
// Ceres then rejects the step (LM shrinks the trust region, the line search
// shrinks the step), so NaN never reaches the parameters. At the end the
// model's parameters are set to Ceres' solution (the last accepted iterate,
// the lowest cost for these monotone methods) or, if Ceres reports the
// solution unusable, to the best iterate seen by the iteration callbacks.
//
// Not thread-safe: the cost functions write the model's parameters. Ceres
// never calls them concurrently (one residual block / one function).
#pragma once

#include "core/operator.hpp"
#include "core/types.hpp"

#include <ceres/cost_function.h>
#include <ceres/first_order_function.h>

#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace implicit {

struct CeresTrainerOptions {
  enum class Method { kLevenbergMarquardt, kLbfgs };
  Method method = Method::kLevenbergMarquardt;
  // Ceres' max_num_iterations; >= 1.
  int max_iterations = 100;
  // Ceres' convergence tolerances (same meaning as in Solver::Options /
  // GradientProblemSolver::Options); each >= 0 and finite.
  double function_tolerance = 1e-10, gradient_tolerance = 1e-12, parameter_tolerance = 1e-10;
  // LM Jacobian: central differences per parameter on the whole training set
  // (2P forward passes), step h_i = jacobian_step * max(1, |theta_i|) (relative
  // for |theta_i| >= 1, the convention of core/gradient_check.hpp). In (0, 0.1].
  double jacobian_step = 1e-6;
  // Ceres' num_threads (LM only; >= 1). With a single residual block Ceres
  // has little to parallelise. The model's forward passes use Eigen's global
  // thread setting (Eigen::setNbThreads, the experiments' --threads); for
  // small problems (ALISTA 20x40 on 200 samples) one thread is fastest, and
  // OpenMP threads on a loaded machine can make the Jacobians ~10x slower.
  int threads = 1;
  bool verbose = false;  // Ceres' per-iteration progress to stdout
  // Optional: evaluated after every Ceres iteration (including iteration 0,
  // the start) with the MODEL'S parameters set to the current iterate, e.g.
  // the held-out NMSE. Its values go to CeresTrainerSummary::metric_trace.
  std::function<double()> metric;  // may be empty
  // Optional (requires `metric`): Ceres stops with USER_SUCCESS
  // (SOLVER_TERMINATE_SUCCESSFULLY) after the first iteration whose metric
  // makes it return true; that iterate is the solution.
  std::function<bool(double metric)> stop_when;
  bool IsValid(std::string* error) const;
};

// "levenberg_marquardt" / "lm" | "lbfgs"; Error otherwise.
CeresTrainerOptions::Method ParseCeresTrainerMethod(const std::string& name);

struct CeresTrainerSummary {
  std::string termination;   // Ceres' termination type name: CONVERGENCE, NO_CONVERGENCE, USER_SUCCESS, FAILURE...
  std::string ceres_report;  // Ceres' BriefReport()
  std::string message;       // Ceres' message (why it stopped)
  int iterations = 0;        // Ceres iterations after iteration 0
  // Loss of the starting parameters and of the parameters the model holds on
  // return (both evaluated by a forward pass here, not copied from Ceres).
  double initial_loss = 0, final_loss = 0;
  double seconds = 0;        // wall time of TrainWithCeres
  // One entry per iteration callback (entry 0 = the starting point): the
  // cost at the current iterate (for a rejected LM step, the unchanged cost,
  // not Ceres' reported candidate cost), the metric (empty without one), and the
  // wall time since TrainWithCeres started (before the metric is evaluated).
  // Ceres skips the callback of an iteration that ends in a convergence
  // test, so the last accepted iterate may have no entry (final_loss has it).
  std::vector<double> loss_trace, metric_trace, time_trace;
  bool usable = false;       // Ceres' IsSolutionUsable()
  std::string BriefReport() const;
};

// Trains model's parameters in place on the fixed set (inputs, targets), z0 = 0.
// Throws Error on invalid options, shape mismatches, non-finite data, a model
// without parameters or with non-finite parameters, or a non-finite model
// output at the starting parameters (nothing to descend from). An exception
// thrown by the model or by options.metric during the solve stops Ceres and is
// rethrown after the model's parameters have been restored (as for an
// unusable solution: the best iterate seen).
CeresTrainerSummary TrainWithCeres(Operator<double>& model, const Eigen::MatrixXd& inputs,
                                   const Eigen::MatrixXd& targets, const CeresTrainerOptions& options);

// The loss 0.5 * ||f(0; X) - T||_F^2 at the model's current parameters
// (+inf if the output is not finite).
double TrainingSetLoss(const Operator<double>& model, const Eigen::MatrixXd& inputs,
                       const Eigen::MatrixXd& targets);

// LM's residual block. residuals = vec(f(0; X) - T) (column-major: residual
// j * state_dim + k is sample j, state entry k); one parameter block of size P
// = model.parameters().size(). Evaluate writes the parameter block into the
// model (and leaves it there), returns false on a non-finite output. The
// Jacobian (R x P, row-major, Ceres' layout) is by central differences; a
// column whose +h or -h evaluation is non-finite falls back to the one-sided
// difference on the finite side (both non-finite: returns false).
// Keeps references to model, inputs and targets: they must outlive it.
class TrainingSetCostFunction final : public ceres::CostFunction {
 public:
  TrainingSetCostFunction(Operator<double>& model, const Eigen::MatrixXd& inputs,
                          const Eigen::MatrixXd& targets, double jacobian_step);
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override;
  // An exception thrown by the model during Evaluate is caught (it must not
  // unwind through Ceres, which may run Evaluate on a worker thread), kept
  // here, and Evaluate returns false (now and on every later call).
  const std::exception_ptr& error() const { return error_; }

 private:
  bool EvaluateImpl(double const* const* parameters, double* residuals, double** jacobians) const;
  bool ForwardFinite(MatrixX<double>& out) const;
  Operator<double>& model_;
  const Eigen::MatrixXd& inputs_;
  const Eigen::MatrixXd& targets_;
  double jacobian_step_;
  Eigen::MatrixXd z0_;
  mutable Eigen::MatrixXd center_, plus_, minus_;  // state_dim x S work buffers
  mutable std::exception_ptr error_;
};

// L-BFGS' objective: cost = 0.5 * ||f(0; X) - T||^2 and its exact gradient
// (VjpParams of one linearisation with the residual as cotangent). Writes the
// parameters into the model; returns false on a non-finite cost or gradient.
// Keeps references to model, inputs and targets: they must outlive it.
class TrainingSetGradientFunction final : public ceres::FirstOrderFunction {
 public:
  TrainingSetGradientFunction(Operator<double>& model, const Eigen::MatrixXd& inputs,
                              const Eigen::MatrixXd& targets);
  bool Evaluate(const double* parameters, double* cost, double* gradient) const override;
  int NumParameters() const override { return num_parameters_; }
  // As TrainingSetCostFunction::error().
  const std::exception_ptr& error() const { return error_; }

 private:
  bool EvaluateImpl(const double* parameters, double* cost, double* gradient) const;
  Operator<double>& model_;
  const Eigen::MatrixXd& inputs_;
  const Eigen::MatrixXd& targets_;
  int num_parameters_;
  Eigen::MatrixXd z0_;
  mutable Eigen::MatrixXd output_;
  mutable std::exception_ptr error_;
};

}  // namespace implicit
