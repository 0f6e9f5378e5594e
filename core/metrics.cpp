#include "core/metrics.hpp"

#include <cmath>
#include <limits>
#include <string>

namespace implicit {
namespace {

// Same shape + finite entries for a (first, second) pair; names start with
// `function`. The shape error reads "<function> <second_name>: expected shape
// <first's>, got <second's>", so both shapes appear in the message.
template <typename Scalar>
void CheckPair(ConstMatRef<Scalar> first, ConstMatRef<Scalar> second, const std::string& function,
               const char* first_name, const char* second_name) {
  RequireShape(second, first.rows(), first.cols(),
               function + " " + second_name + " (must match " + first_name + ")");
  RequireFinite(first, function + " " + first_name);
  RequireFinite(second, function + " " + second_name);
}

template <typename Scalar>
double SquaredDistance(ConstMatRef<Scalar> a, ConstMatRef<Scalar> b) {
  double sum = 0.0;
  for (Index j = 0; j < a.cols(); ++j) {
    for (Index i = 0; i < a.rows(); ++i) {
      const double d = static_cast<double>(a(i, j)) - static_cast<double>(b(i, j));
      sum += d * d;
    }
  }
  return sum;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

template <typename Scalar>
double MseLoss(ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target) {
  CheckPair<Scalar>(prediction, target, "MseLoss", "prediction", "target");
  if (prediction.size() == 0) throw Error("MseLoss: empty input (mean over zero elements)");
  return SquaredDistance<Scalar>(prediction, target) / static_cast<double>(prediction.size());
}

template <typename Scalar>
void MseLossGradient(ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target,
                     MatRef<Scalar> grad) {
  CheckPair<Scalar>(prediction, target, "MseLossGradient", "prediction", "target");
  RequireShape(grad, prediction.rows(), prediction.cols(),
               "MseLossGradient grad (must match prediction)");
  if (prediction.size() == 0) throw Error("MseLossGradient: empty input (mean over zero elements)");
  const Scalar scale = static_cast<Scalar>(2.0 / static_cast<double>(prediction.size()));
  grad = scale * (prediction - target);
}

template <typename Scalar>
double HalfSquaredErrorLoss(ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target) {
  CheckPair<Scalar>(prediction, target, "HalfSquaredErrorLoss", "prediction", "target");
  if (prediction.cols() == 0) throw Error("HalfSquaredErrorLoss: empty batch");
  return 0.5 * SquaredDistance<Scalar>(prediction, target) / static_cast<double>(prediction.cols());
}

template <typename Scalar>
void HalfSquaredErrorLossGradient(ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target,
                                  MatRef<Scalar> grad) {
  CheckPair<Scalar>(prediction, target, "HalfSquaredErrorLossGradient", "prediction", "target");
  RequireShape(grad, prediction.rows(), prediction.cols(),
               "HalfSquaredErrorLossGradient grad (must match prediction)");
  if (prediction.cols() == 0) throw Error("HalfSquaredErrorLossGradient: empty batch");
  const Scalar scale = static_cast<Scalar>(1.0 / static_cast<double>(prediction.cols()));
  grad = scale * (prediction - target);
}

template <typename Scalar>
double NmseDb(ConstMatRef<Scalar> estimate, ConstMatRef<Scalar> truth) {
  CheckPair<Scalar>(estimate, truth, "NmseDb", "estimate", "truth");
  double reference = 0.0;
  for (Index j = 0; j < truth.cols(); ++j) {
    for (Index i = 0; i < truth.rows(); ++i) {
      const double t = static_cast<double>(truth(i, j));
      reference += t * t;
    }
  }
  if (!(reference > 0.0)) {
    throw Error("NmseDb: the reference (truth) is all zero or empty; NMSE is undefined");
  }
  const double error = SquaredDistance<Scalar>(estimate, truth);
  if (error == 0.0) return -kInf;
  return 10.0 * std::log10(error / reference);
}

template <typename Scalar>
Eigen::VectorXd NmseDbPerSample(ConstMatRef<Scalar> estimate, ConstMatRef<Scalar> truth) {
  CheckPair<Scalar>(estimate, truth, "NmseDbPerSample", "estimate", "truth");
  Eigen::VectorXd out(truth.cols());
  for (Index j = 0; j < truth.cols(); ++j) {
    double error = 0.0, reference = 0.0;
    for (Index i = 0; i < truth.rows(); ++i) {
      const double t = static_cast<double>(truth(i, j));
      const double d = static_cast<double>(estimate(i, j)) - t;
      error += d * d;
      reference += t * t;
    }
    if (error == 0.0) {
      out(j) = -kInf;
    } else if (reference == 0.0) {
      out(j) = kInf;
    } else {
      out(j) = 10.0 * std::log10(error / reference);
    }
  }
  return out;
}

template <typename Scalar>
SupportRecovery SupportRecoveryScores(ConstMatRef<Scalar> estimate, ConstMatRef<Scalar> truth,
                                      double tolerance) {
  CheckPair<Scalar>(estimate, truth, "SupportRecoveryScores", "estimate", "truth");
  if (!(std::isfinite(tolerance) && tolerance >= 0.0)) {
    throw Error("SupportRecoveryScores: tolerance must be finite and >= 0, got " +
                std::to_string(tolerance));
  }
  SupportRecovery r;
  for (Index j = 0; j < truth.cols(); ++j) {
    for (Index i = 0; i < truth.rows(); ++i) {
      const bool predicted = std::abs(static_cast<double>(estimate(i, j))) > tolerance;
      const bool actual = std::abs(static_cast<double>(truth(i, j))) > tolerance;
      if (predicted && actual) ++r.true_positives;
      if (predicted && !actual) ++r.false_positives;
      if (!predicted && actual) ++r.false_negatives;
    }
  }
  const Index predicted = r.true_positives + r.false_positives;
  const Index actual = r.true_positives + r.false_negatives;
  r.precision = predicted == 0 ? 1.0
                               : static_cast<double>(r.true_positives) / static_cast<double>(predicted);
  r.recall = actual == 0 ? 1.0 : static_cast<double>(r.true_positives) / static_cast<double>(actual);
  r.f1 = (r.precision + r.recall) == 0.0
             ? 0.0
             : 2.0 * r.precision * r.recall / (r.precision + r.recall);
  return r;
}

#define IMPLICIT_INSTANTIATE_METRICS(S)                                                      \
  template double MseLoss<S>(ConstMatRef<S>, ConstMatRef<S>);                                \
  template void MseLossGradient<S>(ConstMatRef<S>, ConstMatRef<S>, MatRef<S>);               \
  template double HalfSquaredErrorLoss<S>(ConstMatRef<S>, ConstMatRef<S>);                   \
  template void HalfSquaredErrorLossGradient<S>(ConstMatRef<S>, ConstMatRef<S>, MatRef<S>);  \
  template double NmseDb<S>(ConstMatRef<S>, ConstMatRef<S>);                                 \
  template Eigen::VectorXd NmseDbPerSample<S>(ConstMatRef<S>, ConstMatRef<S>);               \
  template SupportRecovery SupportRecoveryScores<S>(ConstMatRef<S>, ConstMatRef<S>, double);

IMPLICIT_INSTANTIATE_METRICS(float)
IMPLICIT_INSTANTIATE_METRICS(double)

#undef IMPLICIT_INSTANTIATE_METRICS

}  // namespace implicit
