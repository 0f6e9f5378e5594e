#include "unfolding/alista.hpp"

#include <Eigen/Cholesky>

#include <cmath>
#include <sstream>
#include <string>

namespace implicit {

namespace {

// Below this reciprocal condition number of A A^T (cond(A)^2), the inverse
// loses all but ~4 digits in double and W would be dominated by rounding.
constexpr double kMinReciprocalCondition = 1e-12;

// max_{i != j} |M_ij| for a square matrix M.
double MaxOffDiagonal(const Eigen::MatrixXd& m) {
  double worst = 0.0;
  for (Index j = 0; j < m.cols(); ++j) {
    for (Index i = 0; i < m.rows(); ++i) {
      if (i != j) worst = std::max(worst, std::abs(m(i, j)));
    }
  }
  return worst;
}

}  // namespace

template <typename Scalar>
MatrixX<Scalar> AnalyticWeight(ConstMatRef<Scalar> a) {
  const Index m = a.rows(), n = a.cols();
  if (m == 0 || n == 0) throw Error("ALISTA analytic weight: empty matrix A");
  RequireFinite(a, "ALISTA analytic weight: matrix A");
  if (m > n) {
    throw Error("ALISTA analytic weight: A is " + std::to_string(m) + "x" + std::to_string(n) +
                " with more rows than columns, so A A^T is singular (the closed form needs full row rank)");
  }
  const Eigen::MatrixXd ad = a.template cast<double>();
  Eigen::MatrixXd gram(m, m);
  gram.setZero();
  gram.selfadjointView<Eigen::Lower>().rankUpdate(ad);  // G = A A^T, m x m
  const Eigen::LLT<Eigen::MatrixXd> llt(gram.selfadjointView<Eigen::Lower>());
  const double rcond = llt.info() == Eigen::Success ? llt.rcond() : 0.0;
  if (!(rcond >= kMinReciprocalCondition)) {
    std::ostringstream message;
    message << "ALISTA analytic weight: A A^T is singular or ill-conditioned (reciprocal condition estimate "
            << rcond << " < " << kMinReciprocalCondition
            << "): A must have full row rank (rank-deficient or nearly rank-deficient A)";
    throw Error(message.str());
  }
  // Columns G^{-1} a_i (m x n), then scale column i by 1 / (a_i^T G^{-1} a_i).
  Eigen::MatrixXd w = llt.solve(ad);
  for (Index i = 0; i < n; ++i) {
    const double denominator = ad.col(i).dot(w.col(i));  // a_i^T G^{-1} a_i >= 0
    if (!(denominator > 0.0)) {
      throw Error("ALISTA analytic weight: column " + std::to_string(i) +
                  " of A is zero, so no w satisfies w^T a_i = 1");
    }
    w.col(i) /= denominator;
  }
  return w.template cast<Scalar>();
}

template <typename Scalar>
double MutualCoherence(ConstMatRef<Scalar> w, ConstMatRef<Scalar> a) {
  RequireShape(w, a.rows(), a.cols(), "generalized coherence: W (same shape as A)");
  if (a.cols() < 2) throw Error("generalized coherence: A needs at least 2 columns");
  const Eigen::MatrixXd product = w.template cast<double>().transpose() * a.template cast<double>();  // n x n
  return MaxOffDiagonal(product);
}

template <typename Scalar>
double NormalizedMutualCoherence(ConstMatRef<Scalar> a) {
  if (a.cols() < 2) throw Error("mutual coherence: A needs at least 2 columns");
  Eigen::MatrixXd normalized = a.template cast<double>();
  for (Index i = 0; i < normalized.cols(); ++i) {
    const double norm = normalized.col(i).norm();
    if (!(norm > 0.0)) throw Error("mutual coherence: column " + std::to_string(i) + " of A is zero");
    normalized.col(i) /= norm;
  }
  return MaxOffDiagonal(normalized.transpose() * normalized);
}

template MatrixX<float> AnalyticWeight<float>(ConstMatRef<float>);
template MatrixX<double> AnalyticWeight<double>(ConstMatRef<double>);
template double MutualCoherence<float>(ConstMatRef<float>, ConstMatRef<float>);
template double MutualCoherence<double>(ConstMatRef<double>, ConstMatRef<double>);
template double NormalizedMutualCoherence<float>(ConstMatRef<float>);
template double NormalizedMutualCoherence<double>(ConstMatRef<double>);

}  // namespace implicit
