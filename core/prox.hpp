// Proximal maps used as layer nonlinearities, written as swappable policies
// (in the spirit of ensmallen's proximal steps): a policy has Apply and
// Backward with the shapes below, so an operator can be templated on it.
#pragma once

#include "core/types.hpp"

namespace implicit {

// Soft threshold, the proximal map of theta * ||.||_1 (Daubechies, Defrise,
// De Mol 2004): soft(u, theta) = sign(u) * max(|u| - theta, 0), elementwise.
//
// theta is a column vector broadcast along rows: either 1 entry (one
// threshold for every coordinate) or rows(u) entries (one per coordinate).
// The derivative at the kink |u| = theta is taken as 0 (a valid subgradient
// choice, and what PyTorch's relu-based soft threshold does).
template <typename Scalar>
struct SoftThreshold {
  // out = soft(u, theta). u, out: n x B. Assigns; out may alias u.
  static void Apply(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta, MatRef<Scalar> out);

  // Given the pre-activation u and the cotangent g (both n x B):
  //   grad_u      = g .* 1[|u| > theta]                              ASSIGNS
  //   grad_theta += -sum_over_batch g .* sign(u) .* 1[|u| > theta]   ACCUMULATES
  //                 (summed over rows too when theta has one entry)
  // grad_u may alias g.
  static void Backward(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta, ConstMatRef<Scalar> g,
                       MatRef<Scalar> grad_u, VecRef<Scalar> grad_theta);
};

}  // namespace implicit
