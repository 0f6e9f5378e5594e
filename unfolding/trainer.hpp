// End-to-end supervised training of any Operator whose output is compared to
// a target (an UnrolledNetwork, typically): loss(f(z0; x), target), gradients
// by the operator's VJPs, an optimiser on the flat parameter vector.
//
// Data comes from a BatchSource callback so the same loop serves "one fixed
// sample" (the seed article), "epochs over a fixed training set" and "fresh
// random batches every step" (the LISTA papers).
#pragma once

#include "core/operator.hpp"
#include "core/optimizers.hpp"
#include "core/types.hpp"

#include <functional>
#include <string>
#include <vector>

namespace implicit {

enum class LossKind {
  kMse,               // mean over all entries (PyTorch nn.MSELoss), the seed article
  kHalfSquaredError,  // 0.5 sum ||xhat - x||^2 / batch, the LISTA papers
};
LossKind ParseLossKind(const std::string& name);  // "mse" | "half_sse"

struct TrainerOptions {
  std::int64_t steps = 200;   // optimiser steps
  std::string optimizer = "adam";  // "adam" | "sgd"
  AdamOptions adam;
  SgdOptions sgd;
  LearningRateSchedule schedule;   // schedule.base overrides the optimiser's learning rate
  double clip_norm = 0.0;          // gradient-norm clipping; 0 = off
  LossKind loss = LossKind::kMse;
  std::int64_t log_every = 0;      // call the progress callback every N steps (0 = never)
  bool IsValid(std::string* error) const;
};

// Fills one training batch for optimiser step `step`: inputs x (input_dim x B),
// targets (state_dim x B, or fewer rows: a readout of the leading rows). The
// callee resizes both.
template <typename Scalar>
using BatchSource = std::function<void(std::int64_t step, MatrixX<Scalar>& inputs, MatrixX<Scalar>& targets)>;

struct TrainingProgress {
  std::int64_t step = 0;   // steps done
  double loss = 0.0;       // loss of the last batch (before its update)
  double grad_norm = 0.0;  // before clipping
  double learning_rate = 0.0;
  double seconds = 0.0;    // wall time since training started
};

struct TrainingSummary {
  enum class Termination { kCompleted, kDiverged };
  Termination termination = Termination::kCompleted;
  std::int64_t steps = 0;
  double final_loss = 0.0;
  double seconds = 0.0;
  std::vector<double> loss_history;  // one entry per step
  std::string message;
  std::string BriefReport() const;
};

// Trains op's parameters in place. z0 is zero. A non-finite loss or gradient
// stops training with kDiverged (parameters are left at the last finite
// step) instead of propagating NaN.
template <typename Scalar>
TrainingSummary TrainSupervised(Operator<Scalar>& op, const BatchSource<Scalar>& source,
                                const TrainerOptions& options,
                                const std::function<void(const TrainingProgress&)>& on_progress = {});

// loss value, and grad = d loss / d prediction (assigned, pre-sized like
// prediction). The target may have FEWER rows than the prediction: the loss
// then compares the leading rows only (a readout, e.g. the z part of ADMM's
// [z; u] state) and the gradient of the other rows is 0.
template <typename Scalar>
double EvaluateLoss(LossKind kind, ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target,
                    MatRef<Scalar> grad);

}  // namespace implicit
