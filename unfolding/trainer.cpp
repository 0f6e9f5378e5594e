#include "unfolding/trainer.hpp"

#include "core/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <sstream>
#include <vector>

namespace implicit {

LossKind ParseLossKind(const std::string& name) {
  if (name == "mse") return LossKind::kMse;
  if (name == "half_sse") return LossKind::kHalfSquaredError;
  throw Error("unknown loss '" + name + "' (expected mse or half_sse)");
}

bool TrainerOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& m) {
    if (error != nullptr) *error = m;
    return false;
  };
  if (steps < 0) return fail("steps must be >= 0");
  if (optimizer != "adam" && optimizer != "sgd") return fail("optimizer must be adam or sgd");
  if (optimizer == "adam" && !adam.IsValid(error)) return false;
  if (optimizer == "sgd" && !sgd.IsValid(error)) return false;
  if (!schedule.IsValid(error)) return false;
  if (!(clip_norm >= 0.0)) return fail("clip_norm must be >= 0");
  if (log_every < 0) return fail("log_every must be >= 0");
  return true;
}

std::string TrainingSummary::BriefReport() const {
  std::ostringstream out;
  out << "training: " << (termination == Termination::kCompleted ? "COMPLETED" : "DIVERGED") << ", "
      << steps << " steps, final loss " << final_loss << ", " << seconds << " s";
  if (!message.empty()) out << " (" << message << ")";
  return out.str();
}

template <typename Scalar>
double EvaluateLoss(LossKind kind, ConstMatRef<Scalar> prediction, ConstMatRef<Scalar> target,
                    MatRef<Scalar> grad) {
  RequireShape(grad, prediction.rows(), prediction.cols(), "loss gradient");
  if (target.rows() > prediction.rows() || target.cols() != prediction.cols()) {
    throw Error("loss: target is " + std::to_string(target.rows()) + "x" + std::to_string(target.cols()) +
                ", prediction " + std::to_string(prediction.rows()) + "x" + std::to_string(prediction.cols()));
  }
  const Index rows = target.rows();
  grad.bottomRows(prediction.rows() - rows).setZero();
  switch (kind) {
    case LossKind::kMse:
      MseLossGradient<Scalar>(prediction.topRows(rows), target, grad.topRows(rows));
      return MseLoss<Scalar>(prediction.topRows(rows), target);
    case LossKind::kHalfSquaredError:
      HalfSquaredErrorLossGradient<Scalar>(prediction.topRows(rows), target, grad.topRows(rows));
      return HalfSquaredErrorLoss<Scalar>(prediction.topRows(rows), target);
  }
  throw Error("unknown loss kind");
}

namespace {

// Large gradients are zeroed and reduced by all Eigen threads (memory-bound
// passes: one core does not saturate the memory bus).
template <typename Scalar>
int GradientThreads(Index size) {
  return size >= (Index(1) << 18) ? Eigen::nbThreads() : 1;
}

template <typename Scalar>
void ZeroGradient(VectorX<Scalar>& grad) {
  const int threads = GradientThreads<Scalar>(grad.size());
  if (threads <= 1) {
    grad.setZero();
    return;
  }
  const Index n = grad.size();
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const Index begin = n * t / threads, end = n * (t + 1) / threads;
    grad.segment(begin, end - begin).setZero();
  }
}

// ||grad||_2 for the divergence test and the progress report: a vectorised
// sum of squares in Scalar per cache-sized chunk, accumulated in double (a
// chunk that overflows Scalar is redone in double; NaN/Inf stay non-finite).
// The previous grad.cast<double>().norm() was a scalar pass, ~1 ms per step at
// 6 M parameters.
template <typename Scalar>
double SquaredNormRange(const VectorX<Scalar>& grad, Index first, Index last) {
  constexpr Index kChunk = 4096;
  double total = 0.0;
  for (Index begin = first; begin < last; begin += kChunk) {
    const Index len = std::min(kChunk, last - begin);
    double part = static_cast<double>(grad.segment(begin, len).squaredNorm());
    if (!std::isfinite(part)) part = grad.segment(begin, len).template cast<double>().squaredNorm();
    total += part;
  }
  return total;
}

template <typename Scalar>
double GradientNorm(const VectorX<Scalar>& grad) {
  const int threads = GradientThreads<Scalar>(grad.size());
  const Index n = grad.size();
  if (threads <= 1) return std::sqrt(SquaredNormRange(grad, 0, n));
  std::vector<double> partial(static_cast<size_t>(threads), 0.0);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    partial[static_cast<size_t>(t)] = SquaredNormRange(grad, n * t / threads, n * (t + 1) / threads);
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return std::sqrt(total);
}

}  // namespace

template <typename Scalar>
TrainingSummary TrainSupervised(Operator<Scalar>& op, const BatchSource<Scalar>& source,
                                const TrainerOptions& options,
                                const std::function<void(const TrainingProgress&)>& on_progress) {
  std::string error;
  if (!options.IsValid(&error)) throw Error("trainer options: " + error);
  const Index num_params = op.parameters().size();
  std::unique_ptr<Optimizer<Scalar>> optimizer;
  if (options.optimizer == "adam") {
    optimizer = std::make_unique<Adam<Scalar>>(num_params, options.adam);
  } else {
    optimizer = std::make_unique<Sgd<Scalar>>(num_params, options.sgd);
  }

  TrainingSummary summary;
  summary.loss_history.reserve(static_cast<size_t>(options.steps));
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  MatrixX<Scalar> inputs, targets, z0, grad_output;
  VectorX<Scalar> grad(num_params);
  for (std::int64_t step = 0; step < options.steps; ++step) {
    source(step, inputs, targets);
    if (targets.rows() > op.state_dim() || inputs.rows() != op.input_dim() ||
        inputs.cols() != targets.cols()) {
      throw Error("training batch has the wrong shape: inputs " + std::to_string(inputs.rows()) + "x" +
                  std::to_string(inputs.cols()) + ", targets " + std::to_string(targets.rows()) + "x" +
                  std::to_string(targets.cols()));
    }
    z0.setZero(op.state_dim(), inputs.cols());
    std::unique_ptr<Linearization<Scalar>> tape = op.Linearize(z0, inputs);
    if (!tape->Value().allFinite()) {
      summary.termination = TrainingSummary::Termination::kDiverged;
      summary.message = "non-finite network output at step " + std::to_string(step);
      break;
    }
    grad_output.resize(op.state_dim(), inputs.cols());
    const double loss = EvaluateLoss<Scalar>(options.loss, tape->Value(), targets, grad_output);
    ZeroGradient<Scalar>(grad);
    tape->VjpParams(grad_output, grad);
    tape.reset();
    const double grad_norm = GradientNorm<Scalar>(grad);
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
      summary.termination = TrainingSummary::Termination::kDiverged;
      summary.message = "non-finite loss or gradient at step " + std::to_string(step);
      break;
    }
    if (options.clip_norm > 0.0) ClipGradientNorm<Scalar>(grad, options.clip_norm);
    const double lr = options.schedule.At(step);
    optimizer->set_learning_rate(lr);
    optimizer->Step(op.parameters().Flat(), grad);
    summary.loss_history.push_back(loss);
    summary.steps = step + 1;
    summary.final_loss = loss;
    if (on_progress && options.log_every > 0 &&
        ((step + 1) % options.log_every == 0 || step + 1 == options.steps)) {
      on_progress({step + 1, loss, grad_norm, lr, elapsed()});
    }
  }
  summary.seconds = elapsed();
  return summary;
}

template double EvaluateLoss<float>(LossKind, ConstMatRef<float>, ConstMatRef<float>, MatRef<float>);
template double EvaluateLoss<double>(LossKind, ConstMatRef<double>, ConstMatRef<double>, MatRef<double>);
template TrainingSummary TrainSupervised<float>(Operator<float>&, const BatchSource<float>&,
                                                const TrainerOptions&,
                                                const std::function<void(const TrainingProgress&)>&);
template TrainingSummary TrainSupervised<double>(Operator<double>&, const BatchSource<double>&,
                                                 const TrainerOptions&,
                                                 const std::function<void(const TrainingProgress&)>&);

}  // namespace implicit
