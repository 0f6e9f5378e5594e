// Training losses (with their gradients) and evaluation metrics.
//
// Conventions (see core/types.hpp): one sample per COLUMN, so prediction and
// target are dim x batch. Every function
//  * checks that the two matrices have the same shape (Error naming both
//    shapes, e.g. "MseLoss target (must match prediction): expected shape
//    4x8, got 4x7"),
//  * rejects non-finite inputs with Error (via RequireFinite, named e.g.
//    "NmseDb estimate"), so a NaN never passes silently into a reported figure,
//  * accumulates sums in double whatever Scalar is.
// Gradient functions write into caller-sized storage of the prediction's shape
// (checked) and ASSIGN (they do not accumulate).
#pragma once

#include "core/types.hpp"

namespace implicit {

// PyTorch nn.MSELoss semantics: mean over ALL elements of (pred - target)^2.
// Error on an empty input (the mean is undefined).
template <typename Scalar>
double MseLoss(ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target);

// grad = d MseLoss / d prediction = 2 (pred - target) / numel. Assigns.
template <typename Scalar>
void MseLossGradient(ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target,
                     MatRef<Scalar> grad);

// The LISTA papers' training loss: 0.5 * sum_j ||x_hat_j - x_j||^2 / batch
// (mean over samples of the half squared error). Error if batch == 0.
template <typename Scalar>
double HalfSquaredErrorLoss(ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target);

// grad = d HalfSquaredErrorLoss / d prediction = (pred - target) / batch. Assigns.
template <typename Scalar>
void HalfSquaredErrorLossGradient(ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target,
                                  MatRef<Scalar> grad);

// The papers' NMSE in dB over a set:
//   10 log10( sum_j ||xhat_j - x_j||^2 / sum_j ||x_j||^2 )
// (a ratio of sums, not a mean of per-sample ratios). Error if the reference
// is all zero (or empty). Returns -inf if the estimate is exact.
template <typename Scalar>
double NmseDb(ConstMatRef<Scalar> estimate, ConstMatRef<Scalar> truth);

// Per-sample NMSE in dB: entry j is 10 log10(||xhat_j - x_j||^2 / ||x_j||^2)
// (size batch). A zero reference column gives +inf if the error there is
// non-zero and -inf if it is zero (an exact estimate, as for a non-zero
// reference); never NaN.
template <typename Scalar>
Eigen::VectorXd NmseDbPerSample(ConstMatRef<Scalar> estimate, ConstMatRef<Scalar> truth);

struct SupportRecovery {
  double precision = 0, recall = 0, f1 = 0;
  Index true_positives = 0, false_positives = 0, false_negatives = 0;
};

// Support = entries with |value| > tolerance (absolute), for both estimate and
// truth. Counts are over the whole set (all entries of all columns).
// precision = TP/(TP+FP) (1 when nothing is predicted), recall = TP/(TP+FN)
// (1 when the truth is empty), f1 = 2 P R / (P + R) (0 when P + R == 0).
// Requires a finite tolerance >= 0.
template <typename Scalar>
SupportRecovery SupportRecoveryScores(ConstMatRef<Scalar> estimate, ConstMatRef<Scalar> truth,
                                      double tolerance = 1e-6);

}  // namespace implicit
