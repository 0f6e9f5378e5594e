#include "core/optimizers.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace implicit {
namespace {

bool Fail(std::string* error, const std::string& message) {
  if (error != nullptr) *error = message;
  return false;
}

template <typename Scalar>
void CheckSizes(const std::string& who, Index expected, Index params, Index grad) {
  if (params != expected || grad != expected) {
    throw Error(who + ": expected " + std::to_string(expected) + " parameters, got params " +
                std::to_string(params) + " and grad " + std::to_string(grad));
  }
}

}  // namespace

bool AdamOptions::IsValid(std::string* error) const {
  if (!(learning_rate >= 0.0)) return Fail(error, "adam: learning_rate must be >= 0");
  if (!(beta1 >= 0.0 && beta1 < 1.0)) return Fail(error, "adam: beta1 must be in [0, 1)");
  if (!(beta2 >= 0.0 && beta2 < 1.0)) return Fail(error, "adam: beta2 must be in [0, 1)");
  if (!(epsilon > 0.0)) return Fail(error, "adam: epsilon must be > 0");
  if (!(weight_decay >= 0.0)) return Fail(error, "adam: weight_decay must be >= 0");
  return true;
}

bool SgdOptions::IsValid(std::string* error) const {
  if (!(learning_rate >= 0.0)) return Fail(error, "sgd: learning_rate must be >= 0");
  if (!(momentum >= 0.0 && momentum < 1.0)) return Fail(error, "sgd: momentum must be in [0, 1)");
  if (nesterov && momentum == 0.0) return Fail(error, "sgd: nesterov needs momentum > 0");
  if (!(weight_decay >= 0.0)) return Fail(error, "sgd: weight_decay must be >= 0");
  return true;
}

template <typename Scalar>
Adam<Scalar>::Adam(Index size, const AdamOptions& options) : options_(options) {
  std::string error;
  if (!options.IsValid(&error)) throw Error(error);
  m_ = VectorX<Scalar>::Zero(size);
  v_ = VectorX<Scalar>::Zero(size);
}

template <typename Scalar>
void Adam<Scalar>::Step(VecRef<Scalar> params, ConstVecRef<Scalar> grad) {
  CheckSizes<Scalar>("adam", m_.size(), params.size(), grad.size());
  ++step_;
  const Scalar b1 = static_cast<Scalar>(options_.beta1);
  const Scalar b2 = static_cast<Scalar>(options_.beta2);
  const Scalar eps = static_cast<Scalar>(options_.epsilon);
  const Scalar wd = static_cast<Scalar>(options_.weight_decay);
  // torch.optim.Adam (non-fused, amsgrad off), in the same operation order:
  //   bias_correction1 = 1 - beta1^t, bias_correction2 = 1 - beta2^t
  //   step_size = lr / bias_correction1
  //   denom = sqrt(v) / sqrt(bias_correction2) + eps
  //   p -= step_size * m / denom
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  const Scalar step_size = static_cast<Scalar>(options_.learning_rate / bias_correction1);
  const Scalar sqrt_bc2 = static_cast<Scalar>(std::sqrt(bias_correction2));
  const Index n = params.size();
  Scalar* p = params.data();
  const Scalar* g = grad.data();
  Scalar* m = m_.data();
  Scalar* v = v_.data();
  const Scalar one_minus_b1 = Scalar(1) - b1;
  const Scalar one_minus_b2 = Scalar(1) - b2;
  // Adam is memory-bound: one pass over the arrays in L1-sized chunks; inside
  // a chunk the update is a few vectorised array expressions (each an exact
  // IEEE op, the same operations as torch's, so float64 steps still agree to
  // ~1e-15). Chunks are shared among the Eigen threads.
  using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
  constexpr Index kChunk = 2048;
  const Index chunks = (n + kChunk - 1) / kChunk;
  auto update = [&](Index c) {
    const Index begin = c * kChunk;
    const Index len = std::min(kChunk, n - begin);
    Eigen::Map<Array> pc(p + begin, len), mc(m + begin, len), vc(v + begin, len);
    Eigen::Map<const Array> gc(g + begin, len);
    if (wd != Scalar(0)) {
      Eigen::Array<Scalar, Eigen::Dynamic, 1, 0, kChunk, 1> gi = gc + wd * pc;
      mc = b1 * mc + one_minus_b1 * gi;
      vc = b2 * vc + (one_minus_b2 * gi) * gi;
    } else {
      mc = b1 * mc + one_minus_b1 * gc;
      vc = b2 * vc + (one_minus_b2 * gc) * gc;
    }
    pc -= step_size * (mc / (vc.sqrt() / sqrt_bc2 + eps));
  };
  const int threads = n >= (Index(1) << 16) ? Eigen::nbThreads() : 1;
  if (threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (Index c = 0; c < chunks; ++c) update(c);
  } else {
    for (Index c = 0; c < chunks; ++c) update(c);
  }
}

template <typename Scalar>
OptimizerState<Scalar> Adam<Scalar>::state() const {
  return {step_, {m_, v_}};
}

template <typename Scalar>
void Adam<Scalar>::set_state(const OptimizerState<Scalar>& state) {
  if (state.buffers.size() != 2 || state.buffers[0].size() != m_.size() ||
      state.buffers[1].size() != v_.size() || state.step < 0) {
    throw Error("adam: optimiser state does not match (expected 2 buffers of " +
                std::to_string(m_.size()) + ")");
  }
  step_ = state.step;
  m_ = state.buffers[0];
  v_ = state.buffers[1];
}

template <typename Scalar>
void Adam<Scalar>::Reset() {
  m_.setZero();
  v_.setZero();
  step_ = 0;
}

template <typename Scalar>
Sgd<Scalar>::Sgd(Index size, const SgdOptions& options) : options_(options) {
  std::string error;
  if (!options.IsValid(&error)) throw Error(error);
  buffer_ = VectorX<Scalar>::Zero(size);
}

template <typename Scalar>
void Sgd<Scalar>::Step(VecRef<Scalar> params, ConstVecRef<Scalar> grad) {
  CheckSizes<Scalar>("sgd", buffer_.size(), params.size(), grad.size());
  const Scalar lr = static_cast<Scalar>(options_.learning_rate);
  const Scalar mu = static_cast<Scalar>(options_.momentum);
  const Scalar wd = static_cast<Scalar>(options_.weight_decay);
  const bool first = step_ == 0;
  ++step_;
  const Index n = params.size();
  for (Index i = 0; i < n; ++i) {
    const Scalar gi = wd != Scalar(0) ? grad(i) + wd * params(i) : grad(i);
    Scalar direction = gi;
    if (mu != Scalar(0)) {
      // torch: the buffer starts as a copy of the first gradient.
      buffer_(i) = first ? gi : mu * buffer_(i) + gi;
      direction = options_.nesterov ? gi + mu * buffer_(i) : buffer_(i);
    }
    params(i) -= lr * direction;
  }
}

template <typename Scalar>
OptimizerState<Scalar> Sgd<Scalar>::state() const {
  return {step_, {buffer_}};
}

template <typename Scalar>
void Sgd<Scalar>::set_state(const OptimizerState<Scalar>& state) {
  if (state.buffers.size() != 1 || state.buffers[0].size() != buffer_.size() || state.step < 0) {
    throw Error("sgd: optimiser state does not match (expected 1 buffer of " +
                std::to_string(buffer_.size()) + ")");
  }
  step_ = state.step;
  buffer_ = state.buffers[0];
}

template <typename Scalar>
void Sgd<Scalar>::Reset() {
  buffer_.setZero();
  step_ = 0;
}

template <typename Scalar>
double ClipGradientNorm(VecRef<Scalar> grad, double max_norm) {
  const double norm = static_cast<double>(grad.template cast<double>().norm());
  if (!std::isfinite(norm)) throw Error("gradient norm is not finite (NaN or Inf in the gradient)");
  if (max_norm > 0.0 && norm > max_norm) {
    // torch uses max_norm / (norm + 1e-6).
    grad *= static_cast<Scalar>(max_norm / (norm + 1e-6));
  }
  return norm;
}

double LearningRateSchedule::At(std::int64_t step) const {
  switch (kind) {
    case Kind::kConstant:
      return base;
    case Kind::kStepDecay:
      return base * std::pow(gamma, static_cast<double>(step / step_size));
    case Kind::kCosine: {
      const double t = std::min<double>(1.0, static_cast<double>(step) / static_cast<double>(total_steps));
      return min_lr + 0.5 * (base - min_lr) * (1.0 + std::cos(std::numbers::pi * t));
    }
  }
  return base;
}

bool LearningRateSchedule::IsValid(std::string* error) const {
  if (!(base >= 0.0)) return Fail(error, "learning rate must be >= 0");
  if (kind == Kind::kStepDecay) {
    if (step_size <= 0) return Fail(error, "step decay: step_size must be > 0");
    if (!(gamma > 0.0 && gamma <= 1.0)) return Fail(error, "step decay: gamma must be in (0, 1]");
  }
  if (kind == Kind::kCosine) {
    if (total_steps <= 0) return Fail(error, "cosine schedule: total_steps must be > 0");
    if (!(min_lr >= 0.0 && min_lr <= base)) return Fail(error, "cosine schedule: min_lr must be in [0, base]");
  }
  return true;
}

LearningRateSchedule::Kind LearningRateSchedule::ParseKind(const std::string& name) {
  if (name == "constant") return Kind::kConstant;
  if (name == "step") return Kind::kStepDecay;
  if (name == "cosine") return Kind::kCosine;
  throw Error("unknown learning-rate schedule '" + name + "' (expected constant, step or cosine)");
}

template class Adam<float>;
template class Adam<double>;
template class Sgd<float>;
template class Sgd<double>;
template double ClipGradientNorm<float>(VecRef<float>, double);
template double ClipGradientNorm<double>(VecRef<double>, double);

}  // namespace implicit
