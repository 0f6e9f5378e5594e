// First-order optimisers on a flat parameter vector (ParameterSet::Flat()),
// gradient-norm clipping and learning-rate schedules.
//
// Options structs follow Ceres: documented defaults and IsValid(std::string*).
// Update formulas match PyTorch's torch.optim (Adam, SGD) operation for
// operation, so a float64 step can be cross-checked against PyTorch to ~1e-12.
#pragma once

#include "core/types.hpp"

#include <string>
#include <vector>

namespace implicit {

// Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0.0;  // L2 added to the gradient (torch.optim.Adam semantics)
  bool IsValid(std::string* error) const;
};

// SGD with (heavy-ball or Nesterov) momentum, torch.optim.SGD semantics
// (dampening 0): buf = momentum * buf + g; step along buf (or g + momentum * buf).
struct SgdOptions {
  double learning_rate = 1e-2;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0.0;
  bool IsValid(std::string* error) const;
};

// Everything an optimiser needs to resume exactly (for checkpoints).
template <typename Scalar>
struct OptimizerState {
  std::int64_t step = 0;
  std::vector<VectorX<Scalar>> buffers;  // Adam: {m, v}; SGD: {momentum buffer}
};

template <typename Scalar>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // params -= update(grad). Sizes must equal the size given at construction.
  virtual void Step(VecRef<Scalar> params, ConstVecRef<Scalar> grad) = 0;
  virtual double learning_rate() const = 0;
  virtual void set_learning_rate(double lr) = 0;
  virtual OptimizerState<Scalar> state() const = 0;
  // Throws Error if the state does not fit this optimiser (wrong size/count).
  virtual void set_state(const OptimizerState<Scalar>& state) = 0;
  // Forget moments and the step count (e.g. at a new training stage).
  virtual void Reset() = 0;
};

template <typename Scalar>
class Adam final : public Optimizer<Scalar> {
 public:
  Adam(Index size, const AdamOptions& options);
  std::string name() const override { return "adam"; }
  void Step(VecRef<Scalar> params, ConstVecRef<Scalar> grad) override;
  double learning_rate() const override { return options_.learning_rate; }
  void set_learning_rate(double lr) override { options_.learning_rate = lr; }
  OptimizerState<Scalar> state() const override;
  void set_state(const OptimizerState<Scalar>& state) override;
  void Reset() override;

 private:
  AdamOptions options_;
  VectorX<Scalar> m_, v_;
  std::int64_t step_ = 0;
};

template <typename Scalar>
class Sgd final : public Optimizer<Scalar> {
 public:
  Sgd(Index size, const SgdOptions& options);
  std::string name() const override { return "sgd"; }
  void Step(VecRef<Scalar> params, ConstVecRef<Scalar> grad) override;
  double learning_rate() const override { return options_.learning_rate; }
  void set_learning_rate(double lr) override { options_.learning_rate = lr; }
  OptimizerState<Scalar> state() const override;
  void set_state(const OptimizerState<Scalar>& state) override;
  void Reset() override;

 private:
  SgdOptions options_;
  VectorX<Scalar> buffer_;
  std::int64_t step_ = 0;
};

// Scales grad so that ||grad||_2 <= max_norm (torch.nn.utils.clip_grad_norm_).
// Returns the norm BEFORE clipping. max_norm <= 0 disables clipping. A
// non-finite norm throws Error (a NaN gradient must not reach the parameters).
template <typename Scalar>
double ClipGradientNorm(VecRef<Scalar> grad, double max_norm);

// Learning rate as a function of the optimiser step (0-based).
struct LearningRateSchedule {
  enum class Kind { kConstant, kStepDecay, kCosine };
  Kind kind = Kind::kConstant;
  double base = 1e-3;
  std::int64_t step_size = 1000;  // kStepDecay: multiply by gamma every step_size steps
  double gamma = 0.1;             // kStepDecay factor
  std::int64_t total_steps = 0;   // kCosine: steps from base down to min_lr
  double min_lr = 0.0;            // kCosine floor
  double At(std::int64_t step) const;
  bool IsValid(std::string* error) const;
  // Parses "constant", "step", "cosine"; Error otherwise.
  static Kind ParseKind(const std::string& name);
};

}  // namespace implicit
