// Deep equilibrium model (Bai, Kolter, Koltun, "Deep Equilibrium Models",
// NeurIPS 2019) over any Operator f_theta(z; x):
//
//   z*(x) solves z* = f(z*; x)          forward: SolveFixedPoint (Anderson by default)
//
// The model is itself an Operator with state z0 (the solver's starting point)
// and input x, so the trainer, the gradient checker and experiments treat it
// like an unrolled network. Backward modes (DeqOptions::backward):
//
//  kImplicit   Implicit function theorem: solve the adjoint fixed point
//              u = (df/dz)^T u + g at z* with the same solver family, then
//              dL/dtheta = (df/dtheta)^T u, dL/dx = (df/dx)^T u. Only the
//              linearisation at z* is kept: O(1) memory in the number of
//              forward iterations. dL/dz0 = 0 (z* does not depend on z0).
//  kJacobianFree  Jacobian-free backprop (Fung, Heaton, Li, McKenzie, Osher,
//              Yin, AAAI 2022): u = g, i.e. the Neumann series cut after its
//              first term. One VJP; a descent direction under contraction.
//  kPhantom    Phantom gradient (Geng, Zhang, Bai, Wang, Lin, NeurIPS 2021):
//              k damped steps z_{i+1} = (1 - l) z_i + l f(z_i) from z*,
//              backpropagated exactly (k stored linearisations).
//  kUnrolled   Full backprop through the forward iterations, run as plain
//              damped iteration from z0 for forward.max_iterations steps with
//              every linearisation stored: O(iterations) memory. For
//              comparison only.
//
// Statistics: last_forward_summary() / last_backward_summary() describe the
// most recent solve (they are overwritten by the next call; not thread-safe).
#pragma once

#include "core/operator.hpp"
#include "core/types.hpp"
#include "deq/fixed_point.hpp"

#include <memory>
#include <string>

namespace implicit {

enum class DeqBackward { kImplicit, kJacobianFree, kPhantom, kUnrolled };
DeqBackward ParseDeqBackward(const std::string& name);  // ift | jfb | phantom | unrolled
std::string DeqBackwardName(DeqBackward mode);

struct DeqOptions {
  FixedPointOptions forward;          // default: Anderson m = 5, relative ridge 1e-4, beta = 1, rtol 1e-6
  DeqBackward backward = DeqBackward::kImplicit;
  FixedPointOptions adjoint;          // the IFT adjoint solve (same defaults)
  int phantom_steps = 5;              // k
  double phantom_damping = 0.5;       // l
  // Power-iteration estimate of the spectral radius of df/dz at z* after every
  // forward solve (costs power_iterations VJPs); a warning goes into the
  // summary message when it is >= 1.
  bool estimate_spectral_radius = false;
  int power_iterations = 30;
  bool IsValid(std::string* error) const;
};

struct DeqForwardSummary {
  FixedPointSummary solve;
  double spectral_radius = -1.0;      // max over samples; -1 = not estimated
  std::string warning;                // non-empty when something needs attention
  std::string BriefReport() const;
};

struct DeqBackwardSummary {
  DeqBackward mode = DeqBackward::kImplicit;
  FixedPointSummary adjoint;          // kImplicit only
  int vjp_evaluations = 0;
  std::string BriefReport() const;
};

template <typename Scalar>
class DeqModel final : public Operator<Scalar> {
 public:
  DeqModel(std::unique_ptr<Operator<Scalar>> cell, const DeqOptions& options);
  DeqModel(const DeqModel&) = delete;
  DeqModel& operator=(const DeqModel&) = delete;

  std::string name() const override { return "deq(" + cell_->name() + ")"; }
  Index state_dim() const override { return cell_->state_dim(); }
  Index input_dim() const override { return cell_->input_dim(); }

  // out = z*(x), solved from the starting point z0 (a warm start).
  void Forward(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x, MatRef<Scalar> out) const override;
  // Solves, then keeps what the selected backward mode needs.
  std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z0,
                                                   ConstMatRef<Scalar> x) const override;

  Operator<Scalar>& cell() { return *cell_; }
  const Operator<Scalar>& cell() const { return *cell_; }
  DeqOptions& options() { return options_; }
  const DeqOptions& options() const { return options_; }
  const DeqForwardSummary& last_forward_summary() const { return forward_summary_; }
  const DeqBackwardSummary& last_backward_summary() const { return backward_summary_; }

  // Power iteration on v -> (df/dz)^T v, per sample, at a linearisation of the
  // cell; returns the largest estimate over samples (rho(J) = rho(J^T)).
  static double EstimateSpectralRadius(const Linearization<Scalar>& lin, Index state_dim, Index batch,
                                       int iterations, std::uint64_t seed = 0);

 private:
  class ImplicitLin;
  class UnrolledLin;
  // Solves z* from z0 into `out` and records the forward summary.
  void Solve(ConstMatRef<Scalar> z0, ConstMatRef<Scalar> x, MatRef<Scalar> out) const;

  std::unique_ptr<Operator<Scalar>> cell_;
  DeqOptions options_;
  mutable DeqForwardSummary forward_summary_;
  mutable DeqBackwardSummary backward_summary_;
};

}  // namespace implicit
