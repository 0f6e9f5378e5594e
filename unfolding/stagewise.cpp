#include "unfolding/stagewise.hpp"

#include "core/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

namespace implicit {

bool StagewiseOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& m) {
    if (error != nullptr) *error = m;
    return false;
  };
  if (!(base_learning_rate > 0.0)) return fail("stage-wise: base learning rate must be > 0");
  if (stage_factors.empty()) return fail("stage-wise: need at least one stage");
  for (double f : stage_factors) {
    if (!(f > 0.0)) return fail("stage-wise: stage learning-rate factors must be > 0");
  }
  if (validate_every < 1) return fail("stage-wise: validate_every must be >= 1");
  if (patience < validate_every) return fail("stage-wise: patience must be >= validate_every");
  if (max_steps_per_stage < 1) return fail("stage-wise: max_steps_per_stage must be >= 1");
  if (!(clip_norm >= 0.0)) return fail("stage-wise: clip_norm must be >= 0");
  if (!(min_improvement_db >= 0.0)) return fail("stage-wise: min_improvement_db must be >= 0");
  if (!(time_budget_seconds >= 0.0)) return fail("stage-wise: time_budget_seconds must be >= 0");
  return adam.IsValid(error);
}

std::string StagewiseSummary::BriefReport() const {
  std::ostringstream out;
  out << "stage-wise training: "
      << (termination == Termination::kCompleted ? "COMPLETED"
                                                 : termination == Termination::kStopped ? "STOPPED" : "DIVERGED")
      << ", " << stages.size() << " stages, " << total_steps << " steps, " << seconds << " s";
  if (!stages.empty()) out << ", last validation NMSE " << stages.back().best_validation_nmse_db << " dB";
  if (!message.empty()) out << " (" << message << ")";
  return out.str();
}

namespace {

template <typename Scalar>
std::vector<Index> TrainableIndices(const UnrolledNetwork<Scalar>& net, Index layer, int stage) {
  if (stage == 0) return net.IntroducedParameterIndices(layer - 1);
  std::vector<Index> all;
  for (Index k = 0; k < layer; ++k) {
    const std::vector<Index> own = net.LayerParameterIndices(k);
    all.insert(all.end(), own.begin(), own.end());
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());  // shared blocks once
  return all;
}

template <typename Scalar>
double ValidationNmse(const UnrolledNetwork<Scalar>& net, const MatrixX<Scalar>& inputs, const MatrixX<Scalar>& targets) {
  MatrixX<Scalar> out(net.state_dim(), inputs.cols());
  net.Forward(MatrixX<Scalar>::Zero(net.state_dim(), inputs.cols()), inputs, out);
  if (!out.allFinite()) return std::numeric_limits<double>::infinity();
  return NmseDb<Scalar>(out.topRows(targets.rows()), targets);  // leading rows: the readout
}

}  // namespace

template <typename Scalar>
StagewiseSummary TrainStagewise(UnrolledNetwork<Scalar>& net, const BatchSource<Scalar>& source,
                                const MatrixX<Scalar>& validation_inputs, const MatrixX<Scalar>& validation_targets,
                                const StagewiseOptions& options, StagewiseState<Scalar>& state,
                                const StagewiseCallbacks<Scalar>& callbacks) {
  std::string error;
  if (!options.IsValid(&error)) throw Error(error);
  RequireShape(validation_inputs, net.input_dim(), validation_inputs.cols(), "validation inputs");
  if (validation_targets.rows() > net.state_dim() || validation_targets.cols() != validation_inputs.cols()) {
    throw Error("stage-wise: validation targets must have at most state_dim rows and one column per input");
  }
  if (state.layer < 1 || state.layer > net.depth() + 1 || state.stage < 0 ||
      state.stage >= static_cast<int>(options.stage_factors.size())) {
    throw Error("stage-wise: resume state is out of range (layer " + std::to_string(state.layer) + ", stage " +
                std::to_string(state.stage) + ")");
  }
  StagewiseSummary summary;
  const auto start = std::chrono::steady_clock::now();
  const double seconds_before = state.seconds;
  auto elapsed = [&] {
    return seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto finish = [&](StagewiseSummary::Termination t, const std::string& message) {
    summary.termination = t;
    summary.message = message;
    summary.total_steps = state.total_steps;
    state.seconds = elapsed();
    summary.seconds = state.seconds;
    summary.stages = state.finished;
    return summary;
  };
  Eigen::Map<VectorX<Scalar>> params = net.parameters().Flat();
  MatrixX<Scalar> inputs, targets, grad_out;
  VectorX<Scalar> grad(params.size()), compact, compact_grad;
  const int num_stages = static_cast<int>(options.stage_factors.size());
  // Depth-weighted work of the stages from (layer, stage) to the end, the
  // current one included (a stage at depth t counts t).
  auto work_left = [&](Index layer, int stage) {
    double w = static_cast<double>(layer) * (num_stages - stage);
    for (Index t = layer + 1; t <= net.depth(); ++t) w += static_cast<double>(t) * num_stages;
    return w;
  };
  // Measured cost of one step per layer of depth, for the ETA.
  double timed_step_layers = 0.0, timed_seconds = 0.0;

  while (state.layer <= net.depth() && !state.done) {
    net.set_active_depth(state.layer);
    const std::vector<Index> trainable = TrainableIndices(net, state.layer, state.stage);
    const auto n_train = static_cast<Index>(trainable.size());
    AdamOptions adam_options = options.adam;
    adam_options.learning_rate = options.base_learning_rate * options.stage_factors[static_cast<size_t>(state.stage)];
    Adam<Scalar> adam(n_train, adam_options);
    if (state.stage_step > 0) {
      adam.set_state(state.optimizer);  // resuming inside this stage
    } else {
      state.best_validation_nmse_db = ValidationNmse(net, validation_inputs, validation_targets);
      state.best_parameters = params;
      state.since_improvement = 0;
    }
    compact.resize(n_train);
    compact_grad.resize(n_train);
    const auto stage_start = std::chrono::steady_clock::now();
    const std::int64_t steps_before_this_run = state.stage_step;  // > 0 when resuming inside the stage
    // This stage's share of the time left (see StagewiseOptions).
    double stage_deadline = std::numeric_limits<double>::infinity();
    if (options.time_budget_seconds > 0.0) {
      const double now = elapsed();
      const double left = std::max(0.0, options.time_budget_seconds - now);
      stage_deadline = now + left * static_cast<double>(state.layer) / work_left(state.layer, state.stage);
    }
    bool stage_over = n_train == 0;
    while (!stage_over) {
      source(state.total_steps, inputs, targets);
      const MatrixX<Scalar> z0 = MatrixX<Scalar>::Zero(net.state_dim(), inputs.cols());
      const std::unique_ptr<Linearization<Scalar>> tape = net.Linearize(z0, inputs);
      if (!tape->Value().allFinite()) return finish(StagewiseSummary::Termination::kDiverged, "non-finite network output");
      grad_out.resize(net.state_dim(), inputs.cols());
      const double loss = EvaluateLoss<Scalar>(options.loss, tape->Value(), targets, grad_out);
      grad.setZero();
      tape->VjpParams(grad_out, grad);
      for (Index i = 0; i < n_train; ++i) {
        compact(i) = params(trainable[static_cast<size_t>(i)]);
        compact_grad(i) = grad(trainable[static_cast<size_t>(i)]);
      }
      if (!compact_grad.allFinite()) return finish(StagewiseSummary::Termination::kDiverged, "non-finite gradient");
      if (options.clip_norm > 0.0) ClipGradientNorm<Scalar>(compact_grad, options.clip_norm);
      adam.Step(compact, compact_grad);
      for (Index i = 0; i < n_train; ++i) params(trainable[static_cast<size_t>(i)]) = compact(i);
      ++state.stage_step;
      ++state.total_steps;
      if (state.stage_step % options.validate_every == 0) {
        const double nmse = ValidationNmse(net, validation_inputs, validation_targets);
        if (nmse < state.best_validation_nmse_db) {
          // Keep the best parameters on any improvement; reset the patience
          // window only on a significant one.
          if (nmse < state.best_validation_nmse_db - options.min_improvement_db) {
            state.since_improvement = 0;
          } else {
            state.since_improvement += options.validate_every;
          }
          state.best_validation_nmse_db = nmse;
          state.best_parameters = params;
        } else {
          state.since_improvement += options.validate_every;
        }
        const double now = elapsed();
        if (callbacks.on_progress) {
          const double stage_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start).count();
          const double per_step_layer = (timed_seconds + stage_seconds) /
                                        std::max(1.0, timed_step_layers + static_cast<double>((state.stage_step - steps_before_this_run) * state.layer));
          double mean_steps = static_cast<double>(options.patience);
          if (!state.finished.empty()) {
            double sum = 0.0;
            for (const StageRecord& r : state.finished) sum += static_cast<double>(r.steps);
            mean_steps = sum / static_cast<double>(state.finished.size());
          }
          mean_steps = std::min(mean_steps, static_cast<double>(options.max_steps_per_stage));
          const double this_stage = std::max(0.0, mean_steps - static_cast<double>(state.stage_step)) *
                                    static_cast<double>(state.layer);
          const double later = work_left(state.layer, state.stage) - static_cast<double>(state.layer);
          double eta = (this_stage + later * mean_steps) * per_step_layer;
          if (options.time_budget_seconds > 0.0) eta = std::min(eta, std::max(0.0, options.time_budget_seconds - now));
          callbacks.on_progress({state.layer, net.depth(), state.stage, state.stage_step, state.total_steps, loss, nmse,
                                 state.best_validation_nmse_db, now, eta});
        }
        stage_over = state.since_improvement >= options.patience || now >= stage_deadline;
      }
      stage_over = stage_over || state.stage_step >= options.max_steps_per_stage;
      if (!stage_over && callbacks.should_stop && callbacks.should_stop()) {
        state.optimizer = adam.state();
        state.seconds = elapsed();
        if (callbacks.on_checkpoint) callbacks.on_checkpoint(state);
        return finish(StagewiseSummary::Termination::kStopped, "stopped at layer " + std::to_string(state.layer) +
                                                                   ", stage " + std::to_string(state.stage));
      }
    }
    timed_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start).count();
    timed_step_layers += static_cast<double>((state.stage_step - steps_before_this_run) * state.layer);
    // End of stage: keep the best parameters seen, move on.
    if (state.best_parameters.size() == params.size()) params = state.best_parameters;
    state.finished.push_back({state.layer, state.stage, state.stage_step, state.best_validation_nmse_db,
                              std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start).count()});
    state.stage_step = 0;
    state.since_improvement = 0;
    state.optimizer = OptimizerState<Scalar>{};
    if (++state.stage == num_stages) {
      state.stage = 0;
      ++state.layer;
    }
    state.done = state.layer > net.depth();
    state.seconds = elapsed();
    if (callbacks.on_checkpoint) callbacks.on_checkpoint(state);
    if (!state.done && callbacks.should_stop && callbacks.should_stop()) {
      return finish(StagewiseSummary::Termination::kStopped, "stopped before layer " + std::to_string(state.layer) +
                                                                 ", stage " + std::to_string(state.stage));
    }
  }
  net.set_active_depth(net.depth());
  return finish(StagewiseSummary::Termination::kCompleted, "");
}

template StagewiseSummary TrainStagewise<float>(UnrolledNetwork<float>&, const BatchSource<float>&,
                                                const MatrixX<float>&, const MatrixX<float>&, const StagewiseOptions&,
                                                StagewiseState<float>&, const StagewiseCallbacks<float>&);
template StagewiseSummary TrainStagewise<double>(UnrolledNetwork<double>&, const BatchSource<double>&,
                                                 const MatrixX<double>&, const MatrixX<double>&,
                                                 const StagewiseOptions&, StagewiseState<double>&,
                                                 const StagewiseCallbacks<double>&);

}  // namespace implicit
