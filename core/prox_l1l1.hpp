// The l1-l1 proximal map (side-information sparse coding), used by the
// DUST-style layer (unfolding/dust.hpp).
//
// For the per-frame problem with side information s (Mota, Deligiannis,
// Rodrigues, "Compressed Sensing With Prior Information", IEEE TIT 2017; the
// building block unfolded by De Weerdt, Eldar, Deligiannis, "Deep Unfolding
// Transformers for Sparse Recovery of Video", IEEE TSP 72, 2024):
//
//   min_x 1/2 ||b - A x||^2 + lambda1 ||x||_1 + lambda2 ||x - s||_1,
//
// a proximal-gradient step needs, elementwise, with theta1 = step * lambda1 and
// theta2 = step * lambda2 (both >= 0),
//
//   P(u; s) = argmin_x 1/2 (x - u)^2 + theta1 |x| + theta2 |x - s|.
//
// Closed form (two-term shrinkage), for s >= 0:
//   u >= s + theta1 + theta2                 : x = u - theta1 - theta2
//   s + theta1 - theta2 <= u < s + t1 + t2   : x = s
//   theta1 - theta2 <= u < s + theta1 - t2   : x = u - theta1 + theta2
//   -theta1 - theta2 <= u < theta1 - theta2  : x = 0
//   u < -theta1 - theta2                     : x = u + theta1 + theta2
// and P(u; s) = -P(-u; -s) for s < 0. With s = 0 it is the soft threshold at
// theta1 + theta2. Every linear piece is x = u - theta1 sign(x) - theta2 sign(x - s),
// so the derivatives are
//   linear piece: dx/du = 1, dx/dtheta1 = -sign(x), dx/dtheta2 = -sign(x - s), dx/ds = 0
//   x = s       : dx/ds = 1, all others 0
//   x = 0       : all 0.
// At a kink the piece chosen by the inequalities above is used (a one-sided
// derivative, as the soft threshold's derivative at |u| = theta is taken as 0).
//
// Negative thresholds are clamped to 0 (theta+ = max(theta, 0)); the
// derivative w.r.t. a clamped threshold is 0. Shapes: u, s, out, region n x B.
#pragma once

#include "core/types.hpp"

namespace implicit {

template <typename Scalar>
struct L1L1Prox {
  // Piece codes stored in `region` (as Scalar, so it lives in a MatrixX).
  static constexpr int kZero = 0;       // x = 0
  static constexpr int kSide = 1;       // x = s
  static constexpr int kLinear = 2;     // x = u - theta1 sign(x) - theta2 sign(x - s)

  // out = P(u; s) elementwise. region (if non-null, pre-sized n x B) receives
  // the piece code. Assigns; out may alias u (not s).
  static void Apply(ConstMatRef<Scalar> u, ConstMatRef<Scalar> s, Scalar theta1, Scalar theta2,
                    MatRef<Scalar> out, MatrixX<Scalar>* region = nullptr);

  // Given the output x = P(u; s), side information s, the piece codes and the
  // cotangent g (all n x B):
  //   grad_u  = g on linear pieces, 0 elsewhere               ASSIGNS
  //   grad_s  = g where x = s, 0 elsewhere                    ASSIGNS
  //   grad_theta1 += -sum g sign(x) over linear pieces        ACCUMULATES
  //   grad_theta2 += -sum g sign(x - s) over linear pieces    ACCUMULATES
  // (threshold gradients are 0 when the threshold is clamped, theta < 0).
  static void Backward(ConstMatRef<Scalar> x, ConstMatRef<Scalar> s, const MatrixX<Scalar>& region,
                       Scalar theta1, Scalar theta2, ConstMatRef<Scalar> g, MatRef<Scalar> grad_u,
                       MatRef<Scalar> grad_s, Scalar& grad_theta1, Scalar& grad_theta2);
};

}  // namespace implicit
