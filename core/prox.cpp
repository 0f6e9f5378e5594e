#include "core/prox.hpp"

#include <algorithm>
#include <cmath>

namespace implicit {
namespace {

template <typename Scalar>
void CheckThreshold(Index rows, Index theta_size) {
  if (theta_size != 1 && theta_size != rows) {
    throw Error("soft threshold: theta has " + std::to_string(theta_size) +
                " entries, expected 1 or " + std::to_string(rows));
  }
}

}  // namespace

template <typename Scalar>
void SoftThreshold<Scalar>::Apply(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta,
                                  MatRef<Scalar> out) {
  CheckThreshold<Scalar>(u.rows(), theta.size());
  RequireShape(out, u.rows(), u.cols(), "soft threshold output");
  const Index n = u.rows();
  const bool scalar_theta = theta.size() == 1;
  for (Index j = 0; j < u.cols(); ++j) {
    // Branch-free form so the compiler vectorises: u - clamp(u, -t, t).
    if (scalar_theta) {
      const Scalar t = theta(0);
      out.col(j) = u.col(j) - u.col(j).cwiseMax(-t).cwiseMin(t);
    } else {
      out.col(j) = u.col(j) - u.col(j).cwiseMax(-theta).cwiseMin(theta);
    }
  }
  (void)n;
}

template <typename Scalar>
void SoftThreshold<Scalar>::Backward(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta,
                                     ConstMatRef<Scalar> g, MatRef<Scalar> grad_u,
                                     VecRef<Scalar> grad_theta) {
  CheckThreshold<Scalar>(u.rows(), theta.size());
  RequireShape(g, u.rows(), u.cols(), "soft threshold cotangent");
  RequireShape(grad_u, u.rows(), u.cols(), "soft threshold grad_u");
  if (grad_theta.size() != theta.size()) throw Error("soft threshold: grad_theta size mismatch");
  const Index n = u.rows();
  const bool scalar_theta = theta.size() == 1;
  Scalar theta_sum = 0;
  for (Index j = 0; j < u.cols(); ++j) {
    for (Index i = 0; i < n; ++i) {
      const Scalar t = scalar_theta ? theta(0) : theta(i);
      const Scalar ui = u(i, j);
      const Scalar gi = g(i, j);
      // d soft / d theta = -sign(u) on the active set, 0 elsewhere.
      Scalar dtheta = 0;
      Scalar du = 0;
      if (ui > t) {
        du = gi;
        dtheta = -gi;
      } else if (ui < -t) {
        du = gi;
        dtheta = gi;
      }
      grad_u(i, j) = du;
      if (scalar_theta) {
        theta_sum += dtheta;
      } else {
        grad_theta(i) += dtheta;
      }
    }
  }
  if (scalar_theta) grad_theta(0) += theta_sum;
}

template <typename Scalar>
void SupportSelectionThreshold<Scalar>::Apply(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta, double percent,
                                              MatRef<Scalar> out, MatrixX<Scalar>* selected) {
  CheckThreshold<Scalar>(u.rows(), theta.size());
  RequireShape(out, u.rows(), u.cols(), "support-selection threshold output");
  if (!(percent >= 0.0 && percent <= 100.0)) throw Error("support selection: percent must be in [0, 100]");
  const Index n = u.rows();
  if (selected != nullptr) RequireShape(*selected, n, u.cols(), "support-selection mask");
  const bool scalar_theta = theta.size() == 1;
  // Nearest-rank index of the (100 - percent)-th percentile in ascending order.
  const auto rank = static_cast<Index>(std::lround((100.0 - percent) / 100.0 * static_cast<double>(n - 1)));
  VectorX<Scalar> magnitudes(n);
  for (Index j = 0; j < u.cols(); ++j) {
    magnitudes = u.col(j).cwiseAbs();
    std::nth_element(magnitudes.data(), magnitudes.data() + rank, magnitudes.data() + n);
    const Scalar cut = magnitudes(rank);
    for (Index i = 0; i < n; ++i) {
      const Scalar t = scalar_theta ? theta(0) : theta(i);
      const Scalar ui = u(i, j);
      const Scalar a = std::abs(ui);
      const bool pass = a > t && a > cut;
      if (selected != nullptr) (*selected)(i, j) = pass ? Scalar(1) : Scalar(0);
      out(i, j) = pass ? ui : (a > t ? (ui > 0 ? ui - t : ui + t) : Scalar(0));
    }
  }
}

template <typename Scalar>
void SupportSelectionThreshold<Scalar>::Backward(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta,
                                                 ConstMatRef<Scalar> selected, ConstMatRef<Scalar> g,
                                                 MatRef<Scalar> grad_u, VecRef<Scalar> grad_theta) {
  CheckThreshold<Scalar>(u.rows(), theta.size());
  RequireShape(selected, u.rows(), u.cols(), "support-selection mask");
  RequireShape(g, u.rows(), u.cols(), "support-selection cotangent");
  RequireShape(grad_u, u.rows(), u.cols(), "support-selection grad_u");
  if (grad_theta.size() != theta.size()) throw Error("support selection: grad_theta size mismatch");
  const bool scalar_theta = theta.size() == 1;
  Scalar theta_sum = 0;
  for (Index j = 0; j < u.cols(); ++j) {
    for (Index i = 0; i < u.rows(); ++i) {
      const Scalar t = scalar_theta ? theta(0) : theta(i);
      const Scalar ui = u(i, j);
      const Scalar gi = g(i, j);
      const bool active = std::abs(ui) > t;
      grad_u(i, j) = active ? gi : Scalar(0);
      if (active && selected(i, j) == Scalar(0)) {
        const Scalar d = ui > 0 ? -gi : gi;
        if (scalar_theta) {
          theta_sum += d;
        } else {
          grad_theta(i) += d;
        }
      }
    }
  }
  if (scalar_theta) grad_theta(0) += theta_sum;
}

template <typename Scalar>
ThresholdPolicy<Scalar>::ThresholdPolicy(double support_percent) : support_percent_(support_percent) {
  if (!(support_percent >= 0.0 && support_percent <= 100.0)) {
    throw Error("support selection percent must be in [0, 100], got " + std::to_string(support_percent));
  }
}

template <typename Scalar>
void ThresholdPolicy<Scalar>::Apply(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta, MatRef<Scalar> out,
                                    MatrixX<Scalar>* selected) const {
  if (selects_support()) {
    if (selected != nullptr) selected->resize(u.rows(), u.cols());
    SupportSelectionThreshold<Scalar>::Apply(u, theta, support_percent_, out, selected);
  } else {
    SoftThreshold<Scalar>::Apply(u, theta, out);
  }
}

template <typename Scalar>
void ThresholdPolicy<Scalar>::Backward(ConstMatRef<Scalar> u, ConstVecRef<Scalar> theta,
                                       const MatrixX<Scalar>& selected, ConstMatRef<Scalar> g,
                                       MatRef<Scalar> grad_u, VecRef<Scalar> grad_theta) const {
  if (selects_support()) {
    SupportSelectionThreshold<Scalar>::Backward(u, theta, selected, g, grad_u, grad_theta);
  } else {
    SoftThreshold<Scalar>::Backward(u, theta, g, grad_u, grad_theta);
  }
}

template struct SoftThreshold<float>;
template struct SoftThreshold<double>;
template struct SupportSelectionThreshold<float>;
template struct SupportSelectionThreshold<double>;
template class ThresholdPolicy<float>;
template class ThresholdPolicy<double>;

}  // namespace implicit
