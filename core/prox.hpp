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

// Soft threshold with support selection (Chen, Liu, Wang, Yin, "Theoretical
// Linear Convergence of Unfolded ISTA and its Practical Weights and
// Thresholds", NeurIPS 2018, Eq. (14)): per sample (column), the entries whose
// |u| exceeds both theta and the (100 - percent)-th percentile of that
// sample's |u| are trusted as support and pass UNSHRUNK; all other entries are
// soft-thresholded. The selection is treated as a constant (no gradient
// through the mask), as in the reference implementation (tf.stop_gradient).
// Percentile: nearest rank of the sorted |u| (tfp.stats.percentile's default
// 'nearest' interpolation). percent = 0 selects nothing: plain soft threshold.
template <typename Scalar>
struct SupportSelectionThreshold {
  // out = ss(u, theta, percent); selected (n x B, 1 = passed unshrunk, 0 =
  // thresholded) is written when non-null, pre-sized. Assigns; out may alias u.
  static void Apply(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta, double percent, MatRef<Scalar> out,
                    MatrixX<Scalar>* selected = nullptr);
  // grad_u = g on |u| > theta (selected or not), 0 elsewhere          ASSIGNS
  // grad_theta += -sum g sign(u) over thresholded active entries   ACCUMULATES
  static void Backward(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta, ConstMatRef<Scalar> selected,
                       ConstMatRef<Scalar> g, MatRef<Scalar> grad_u, VecRef<Scalar> grad_theta);
};

// The layers' threshold as a swappable policy: plain soft threshold
// (support_percent = 0) or support selection. Keeps the selection mask it
// computed in Apply so Backward uses exactly the same one.
template <typename Scalar>
class ThresholdPolicy {
 public:
  explicit ThresholdPolicy(double support_percent = 0.0);
  double support_percent() const { return support_percent_; }
  bool selects_support() const { return support_percent_ > 0.0; }
  // out = threshold(u); `selected` receives the mask when selecting support.
  void Apply(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta, MatRef<Scalar> out, MatrixX<Scalar>* selected) const;
  void Backward(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta, const MatrixX<Scalar>& selected,
                ConstMatRef<Scalar> g, MatRef<Scalar> grad_u, VecRef<Scalar> grad_theta) const;

 private:
  double support_percent_;
};

}  // namespace implicit
