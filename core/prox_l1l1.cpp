#include "core/prox_l1l1.hpp"

#include <algorithm>
#include <string>

namespace implicit {

namespace {

// P(u; s) for s >= 0 (the table in the header); writes the piece code.
template <typename Scalar>
Scalar ProxNonNegativeSide(Scalar u, Scalar s, Scalar t1, Scalar t2, int& piece) {
  if (u >= s + t1 + t2) {
    piece = L1L1Prox<Scalar>::kLinear;
    return u - t1 - t2;
  }
  if (u >= s + t1 - t2) {
    piece = L1L1Prox<Scalar>::kSide;
    return s;
  }
  if (u >= t1 - t2) {
    piece = L1L1Prox<Scalar>::kLinear;
    return u - t1 + t2;
  }
  if (u >= -t1 - t2) {
    piece = L1L1Prox<Scalar>::kZero;
    return Scalar(0);
  }
  piece = L1L1Prox<Scalar>::kLinear;
  return u + t1 + t2;
}

template <typename Scalar>
Scalar Sign(Scalar v) {
  return v > Scalar(0) ? Scalar(1) : (v < Scalar(0) ? Scalar(-1) : Scalar(0));
}

}  // namespace

template <typename Scalar>
void L1L1Prox<Scalar>::Apply(ConstMatRef<Scalar> u, ConstMatRef<Scalar> s, Scalar theta1, Scalar theta2,
                             MatRef<Scalar> out, MatrixX<Scalar>* region) {
  RequireShape(s, u.rows(), u.cols(), "l1-l1 prox side information");
  RequireShape(out, u.rows(), u.cols(), "l1-l1 prox output");
  if (region != nullptr) RequireShape(*region, u.rows(), u.cols(), "l1-l1 prox region");
  const Scalar t1 = std::max(theta1, Scalar(0)), t2 = std::max(theta2, Scalar(0));
  for (Index j = 0; j < u.cols(); ++j) {
    for (Index i = 0; i < u.rows(); ++i) {
      const Scalar side = s(i, j);
      int piece = kZero;
      const Scalar value = side >= Scalar(0) ? ProxNonNegativeSide(u(i, j), side, t1, t2, piece)
                                             : -ProxNonNegativeSide(-u(i, j), -side, t1, t2, piece);
      out(i, j) = value;
      if (region != nullptr) (*region)(i, j) = static_cast<Scalar>(piece);
    }
  }
}

template <typename Scalar>
void L1L1Prox<Scalar>::Backward(ConstMatRef<Scalar> x, ConstMatRef<Scalar> s, const MatrixX<Scalar>& region,
                                Scalar theta1, Scalar theta2, ConstMatRef<Scalar> g, MatRef<Scalar> grad_u,
                                MatRef<Scalar> grad_s, Scalar& grad_theta1, Scalar& grad_theta2) {
  const Index n = x.rows(), b = x.cols();
  RequireShape(s, n, b, "l1-l1 prox side information");
  RequireShape(region, n, b, "l1-l1 prox region");
  RequireShape(g, n, b, "l1-l1 prox cotangent");
  RequireShape(grad_u, n, b, "l1-l1 prox input gradient");
  RequireShape(grad_s, n, b, "l1-l1 prox side-information gradient");
  double gt1 = 0.0, gt2 = 0.0;
  for (Index j = 0; j < b; ++j) {
    for (Index i = 0; i < n; ++i) {
      const int piece = static_cast<int>(region(i, j));
      const Scalar gij = g(i, j);
      grad_u(i, j) = piece == kLinear ? gij : Scalar(0);
      grad_s(i, j) = piece == kSide ? gij : Scalar(0);
      if (piece == kLinear) {
        gt1 -= static_cast<double>(gij * Sign(x(i, j)));
        gt2 -= static_cast<double>(gij * Sign(x(i, j) - s(i, j)));
      }
    }
  }
  if (theta1 > Scalar(0)) grad_theta1 += static_cast<Scalar>(gt1);
  if (theta2 > Scalar(0)) grad_theta2 += static_cast<Scalar>(gt2);
}

template struct L1L1Prox<float>;
template struct L1L1Prox<double>;

}  // namespace implicit
