// Descent-constrained training of an unrolled network (Hadou, NaderiAlizadeh,
// Ribeiro, "Robust Stochastically-Descending Unrolled Networks", 2023):
//
//   min_theta  E[ loss(x_K, x) ]
//   s.t.       E[ ||g(x_l)|| - (1 - eps) ||g(x_{l-1})|| ] <= 0,   l = 1..K,
//
// where x_0 = 0, x_l = f_l(x_{l-1}; b) are the layer outputs (state n x B)
// and g is a descent measure of the problem the network unrolls. Every layer
// must then be, in expectation, a descent step of the problem: the network
// stays an optimiser, not only a regressor fitted to its training law.
//
// Which g (and why): for the LASSO  F(x) = 1/2 ||b - A x||^2 + lambda ||x||_1
// F is not differentiable: an arbitrary subgradient need not vanish at the
// minimiser, and the minimum-norm subgradient (which does) is discontinuous:
// it jumps whenever a coordinate crosses 0. We use the PROXIMAL-GRADIENT MAPPING
//
//   G(x) = L (x - soft(x - A^T (A x - b) / L, lambda / L)),   L >= ||A||_2^2,
//
// (Beck, "First-Order Methods in Optimization", SIAM 2017, Sec. 10.3): it is
// zero exactly at the LASSO minimisers, it is the step ISTA takes scaled by L
// (so ||G|| is ISTA's own progress measure: F(x - G/L) <= F(x) - ||G||^2/(2L)),
// it is single-valued and Lipschitz in x, and it is differentiable almost
// everywhere (the soft threshold's kink is measure-zero), so its norm can be
// backpropagated like any layer.
//
// Primal-dual method (the paper's Algorithm 1): the empirical Lagrangian of a
// batch
//   Lag(theta, mu) = loss(x_K) + sum_l mu_l s_l,
//   s_l = mean_j [ ||G(x_l^j)|| - (1 - eps) ||G(x_{l-1}^j)|| ]   ("slack"; > 0 = violated)
// with one dual mu_l >= 0 per layer; an Adam step on theta along grad Lag,
// then projected gradient ascent on the duals, mu_l <- max(0, mu_l + eta s_l)
// (DualAscentStep). ConstraintForm below also offers a per-sample hinge
// form of s_l (this project's variant, off by default). Gradients: the layers are linearised one by one and the
// cotangent of each layer output x_l receives, besides the chain from layer
// l+1, the constraint term (mu_l - (1 - eps) mu_{l+1}) d||G(x_l)||/dx_l / B.
// Optional noise injection (the paper's robustness device): during training,
// N(0, noise_std^2) is added to the outputs of layers 1..K-1 (not to x_K)
// before they enter the next layer (and the constraints).
//
// With options.constrained = false the duals stay 0 and the same loop is
// plain end-to-end training: the unconstrained twin of a constrained model,
// trained with the identical recipe, batches and budget.
#pragma once

#include "core/optimizers.hpp"
#include "core/types.hpp"
#include "unfolding/trainer.hpp"
#include "unfolding/unrolled_network.hpp"

#include <functional>
#include <string>
#include <vector>

namespace implicit {

// Per-sample LASSO objective 1/2 ||b_j - A x_j||^2 + lambda ||x_j||_1, in
// double. a: m x n, b: m x B, x: n x B. Returns B values.
template <typename Scalar>
Eigen::VectorXd LassoObjective(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b, ConstMatRef<Scalar> x, double lambda);

// Per-sample ||G(x_j)|| (B values) of the proximal-gradient mapping above, and
// when grad != nullptr (pre-sized n x B) grad.col(j) = d ||G(x_j)|| / d x_j
// (ASSIGNED; 0 where G(x_j) = 0). With D = diag(1[|u| > lambda/L]),
// u = x - A^T (A x - b) / L and v = G / ||G||:
//   d||G||/dx = L v - L D v + A^T A D v     (dG/dx = L I - D (L I - A^T A)).
template <typename Scalar>
Eigen::VectorXd ProxGradientMappingNorm(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b, ConstMatRef<Scalar> x,
                                        double lambda, double lipschitz, MatRef<Scalar>* grad = nullptr);

// Projected gradient ascent on the duals: mu_l <- max(0, mu_l + step * slack_l).
// Sizes must match; step >= 0.
void DualAscentStep(Eigen::VectorXd& duals, const Eigen::VectorXd& slacks, double step);

// How the per-layer constraint is aggregated over samples.
//  * expectation (default, the paper): s_l = mean_j d_jl,
//      d_jl = ||G(x_l^j)|| - (1 - eps) ||G(x_{l-1}^j)||;
//    satisfied ON AVERAGE, so a fraction of the samples may still fail.
//  * per-sample hinge (this project's variant, off by default): s_l =
//      mean_j max(d_jl, 0) - tau mean_j ||G(x_{l-1}^j)||,
//    the expected VIOLATION, allowed up to a fraction tau of the previous
//    layer's mean ||G||; it pushes every sample to descend, which is what the
//    descent rate (a per-sample, every-layer criterion) measures.
//  The descent measure m(x) in d_jl = m(x_l^j) - (1 - eps) m(x_{l-1}^j):
//  * kMappingNorm (default, the choice): m = ||G(x)||;
//  * kObjective (this project's variant, off by default): m = F(x), the LASSO
//    objective itself, differentiated with dF/dx = A^T (A x - b) + lambda sign(x)
//    (a.e.; the kink of |x_i| is measure-zero). With eps = 0 and the hinge form,
//    d_jl > 0 is exactly "layer l increases F for sample j", i.e. the
//    constraint is the descent rate's own per-layer criterion.
//  * kLogObjective (this project's variant, off by default): m = log F(x), so
//    d_jl = log(F(x_l^j) / F(x_{l-1}^j)) - log(1 - eps): the same sign as the
//    F form at eps = 0, but scale-free (F falls by ~3 decades over the
//    layers; an absolute F violation at layer 2 is ~1000x one at layer 14), so
//    one dual step size suits every layer. Its hinge tolerance is absolute:
//    s_l = mean_j max(d_jl, 0) - tau.
enum class DescentMeasure { kMappingNorm, kObjective, kLogObjective };

struct ConstraintForm {
  bool per_sample_hinge = false;
  double hinge_tolerance = 0.01;  // tau, only used by the hinge form
  DescentMeasure measure = DescentMeasure::kMappingNorm;
};

// Per-sample F(x_j) (B values, the LassoObjective above) and, when grad !=
// nullptr (pre-sized n x B), grad.col(j) = A^T (A x_j - b_j) + lambda sign(x_j) (ASSIGNED).
template <typename Scalar>
Eigen::VectorXd LassoObjectiveWithGradient(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b, ConstMatRef<Scalar> x,
                                           double lambda, MatRef<Scalar>* grad);

struct DescentConstrainedOptions {
  std::int64_t steps = 2000;       // primal (Adam) steps; one dual step after each
  bool constrained = true;         // false: duals stay 0 (the unconstrained twin)
  double epsilon = 0.05;           // required relative decrease per layer, in [0, 1)
  double lambda = 0.1;             // LASSO lambda of the descent measure G
  double lipschitz = 0.0;          // L of G; 0 = 1.001 ||A||_2^2 (EstimateLipschitz)
  double learning_rate = 1e-3;     // Adam, cosine-decayed to min_learning_rate over `steps`
  double min_learning_rate = 1e-5;
  AdamOptions adam;                // learning_rate is overridden by the schedule
  double dual_learning_rate = 1.0; // eta of the dual ascent
  double initial_dual = 0.0;       // mu_l at step 0
  double noise_std = 0.0;          // noise injected between layers during training; 0 = off
  std::uint64_t noise_seed = 0;    // stream of the injected noise
  double clip_norm = 0.0;          // gradient-norm clipping of the primal step; 0 = off
  ConstraintForm form;             // expectation (the paper) or per-sample hinge
  std::int64_t record_every = 10;  // keep a DescentConstrainedRecord every N steps (and the last); >= 1
  bool IsValid(std::string* error) const;
};

// One row of the training trace (the duals and slacks of the step's batch,
// measured before its updates).
struct DescentConstrainedRecord {
  std::int64_t step = 0;       // 1-based step
  double loss = 0.0;           // half squared error of x_K (mean over the batch)
  double lagrangian = 0.0;     // loss + sum_l mu_l s_l
  double learning_rate = 0.0;
  double seconds = 0.0;
  Eigen::VectorXd duals;       // K, before this step's dual update
  Eigen::VectorXd slacks;      // K, s_l of this batch
};

struct DescentConstrainedSummary {
  enum class Termination { kCompleted, kStopped, kDiverged };
  Termination termination = Termination::kCompleted;
  std::string message;
  std::int64_t steps = 0;
  double seconds = 0.0;
  double final_loss = 0.0;
  Eigen::VectorXd duals;   // K, after the last step
  Eigen::VectorXd slacks;  // K, of the last batch
  std::vector<DescentConstrainedRecord> records;
  std::string BriefReport() const;
};

// Value and gradient of one batch's Lagrangian.
struct LagrangianEvaluation {
  double loss = 0.0;
  double lagrangian = 0.0;
  Eigen::VectorXd slacks;        // K (see ConstraintForm)
  Eigen::VectorXd mapping_norm;  // K + 1: mean descent measure (||G(x_l)|| or F(x_l)) over the batch, l = 0..K
};

// Lag(theta, duals) for a batch (inputs b: m x B, targets x: n x B) and, if
// grad != nullptr, grad += d Lag / d theta (network flat layout, ACCUMULATES).
// `noise` is either empty (no injection) or K - 1 matrices n x B added to the
// outputs of layers 1..K-1. The network's state must be the signal (state_dim
// = n = A.cols()); all of its active layers are used.
template <typename Scalar>
LagrangianEvaluation EvaluateLagrangian(const UnrolledNetwork<Scalar>& net, ConstMatRef<Scalar> a,
                                        ConstMatRef<Scalar> inputs, ConstMatRef<Scalar> targets,
                                        const Eigen::VectorXd& duals, double epsilon, double lambda,
                                        double lipschitz, const std::vector<MatrixX<Scalar>>& noise,
                                        VecRef<Scalar>* grad, const ConstraintForm& form = {});

struct DescentConstrainedCallbacks {
  std::function<void(const DescentConstrainedRecord&)> on_record;  // after every kept record
  std::function<bool()> should_stop;                               // polled after every step
};

// Trains net (all layers active) in place on batches from `source` (inputs
// b m x B, targets x n x B). A non-finite loss or gradient stops with
// kDiverged, parameters at the last finite step.
template <typename Scalar>
DescentConstrainedSummary TrainDescentConstrained(UnrolledNetwork<Scalar>& net, ConstMatRef<Scalar> a,
                                                  const BatchSource<Scalar>& source,
                                                  const DescentConstrainedOptions& options,
                                                  const DescentConstrainedCallbacks& callbacks = {});

// Held-out check of the constraints and of monotone descent.
struct DescentEvaluation {
  Eigen::VectorXd slacks;           // K: mean ||G(x_l)|| - (1 - eps) mean ||G(x_{l-1})||
  Eigen::VectorXd mapping_norm;     // K + 1: mean ||G(x_l)||, l = 0..K
  Eigen::VectorXd objective;        // K + 1: mean F(x_l), l = 0..K
  // Fraction of samples for which F(x_l) <= F(x_{l-1}) for EVERY l = 1..K
  // (x_0 = 0; F in double): the "descent rate".
  double descent_rate = 0.0;
  // K: fraction of samples with F(x_l) <= F(x_{l-1}) at layer l (which layers break descent).
  Eigen::VectorXd layer_descent_rate;
  // Fraction of samples with ||G(x_l)|| <= (1 - eps) ||G(x_{l-1})|| for every l.
  double per_sample_constraint_rate = 0.0;
  // B x (K + 1): F(x_l) of every sample j (row) at every layer l = 0..K
  // (column), for diagnosing WHERE and by how much descent fails.
  Eigen::MatrixXd sample_objective;
  bool constraints_satisfied() const { return slacks.size() > 0 && slacks.maxCoeff() <= 0.0; }
};

// iterates: x_0..x_K, each at least n x B (only the leading n rows are read,
// so a [z; u] ADMM state works); b: m x B; a: m x n (the problem the
// estimates are judged on).
template <typename Scalar>
DescentEvaluation EvaluateDescent(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b,
                                  const std::vector<MatrixX<Scalar>>& iterates, double lambda, double lipschitz,
                                  double epsilon);

// x_0 = 0 and the network's layer outputs x_1..x_K for inputs b (m x B).
template <typename Scalar>
std::vector<MatrixX<Scalar>> NetworkIterates(const UnrolledNetwork<Scalar>& net, ConstMatRef<Scalar> b);

}  // namespace implicit
