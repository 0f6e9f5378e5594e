#include "core/prox.hpp"

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

template struct SoftThreshold<float>;
template struct SoftThreshold<double>;

}  // namespace implicit
