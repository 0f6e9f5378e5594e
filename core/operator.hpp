// The one operator abstraction: z_next = f_theta(z; x).
//
// Shapes (one sample per column, batch B):
//   z : state_dim() x B     the iterate (e.g. the sparse code estimate)
//   x : input_dim() x B     the per-sample input (e.g. the measurements b)
//   f : state_dim() x B     the next iterate
//   theta : parameters(), a named-block ParameterSet with one flat view
//
// An unrolled network applies K operators (untied) or one operator K times
// (tied); a DEQ solves z* = f(z*; x). Both are written once, against this
// interface, so a new operator (one file) serves both uses.
//
// Differentiation is split in two steps so that the DEQ backward can apply
// many vector-Jacobian products at one point without recomputing anything:
//   auto lin = op.Linearize(z, x);      // evaluates f and caches what VJPs need
//   lin->VjpState(g, gz);               // gz  = (df/dz)^T g        ASSIGNS
//   lin->VjpInput(g, gx);               // gx += (df/dx)^T g        ACCUMULATES
//   lin->VjpParams(g, gtheta);          // gtheta += (df/dtheta)^T g summed over
//                                       //   the batch               ACCUMULATES
// Why the mix: the state cotangent is a chain (layer k's output is only used
// by layer k+1), so assigning avoids a zeroing pass; input and parameter
// gradients are sums over layers (x feeds every layer; tied layers share theta),
// so accumulating lets callers add contributions without temporaries.
// This is the same idea as Ceres' LinearOperator::RightMultiplyAndAccumulate.
//
// Lifetime: a Linearization reads the operator's parameters when its VJPs run,
// so it must not outlive the operator, and parameters must not change between
// Linearize() and the VJPs (an optimiser step invalidates it).
#pragma once

#include "core/parameters.hpp"
#include "core/types.hpp"

#include <memory>
#include <string>

namespace implicit {

template <typename Scalar>
class Linearization {
 public:
  virtual ~Linearization() = default;

  // f(z; x) at the linearisation point, state_dim x B.
  virtual const MatrixX<Scalar>& Value() const = 0;

  // grad_state = (df/dz)^T cotangent. Both state_dim x B. Assigns.
  virtual void VjpState(ConstMatRef<Scalar> cotangent, MatRef<Scalar> grad_state) const = 0;
  // grad_input += (df/dx)^T cotangent. grad_input is input_dim x B. Accumulates.
  virtual void VjpInput(ConstMatRef<Scalar> cotangent, MatRef<Scalar> grad_input) const = 0;
  // grad_params += sum over the batch of (df/dtheta)^T cotangent.
  // grad_params has the operator's flat parameter layout. Accumulates.
  virtual void VjpParams(ConstMatRef<Scalar> cotangent, VecRef<Scalar> grad_params) const = 0;
};

template <typename Scalar>
class Operator {
 public:
  virtual ~Operator() = default;

  // A short, human-readable name ("lista_layer", "ista_step", ...).
  virtual std::string name() const = 0;
  virtual Index state_dim() const = 0;
  virtual Index input_dim() const = 0;

  // out = f(z; x). z: state_dim x B, x: input_dim x B, out pre-sized
  // state_dim x B by the caller. Assigns. `out` must not alias z or x.
  virtual void Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x, MatRef<Scalar> out) const = 0;

  // Evaluates f at (z, x) and keeps what the VJPs need (e.g. the
  // soft-threshold mask, a copy of z). Memory: O(state_dim x B).
  virtual std::unique_ptr<Linearization<Scalar>> Linearize(ConstMatRef<Scalar> z,
                                                           ConstMatRef<Scalar> x) const = 0;

  ParameterSet<Scalar>& parameters() { return parameters_; }
  const ParameterSet<Scalar>& parameters() const { return parameters_; }

 protected:
  // Throws Error naming this operator unless z and x have consistent shapes.
  void CheckInputs(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x) const {
    if (z.rows() != state_dim()) {
      throw Error(name() + ": state has " + std::to_string(z.rows()) + " rows, expected " +
                  std::to_string(state_dim()));
    }
    if (x.rows() != input_dim()) {
      throw Error(name() + ": input has " + std::to_string(x.rows()) + " rows, expected " +
                  std::to_string(input_dim()));
    }
    if (z.cols() != x.cols()) {
      throw Error(name() + ": state batch " + std::to_string(z.cols()) + " != input batch " +
                  std::to_string(x.cols()));
    }
  }

  ParameterSet<Scalar> parameters_;
};

}  // namespace implicit
