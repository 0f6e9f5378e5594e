// Stage-wise training of an unrolled network, the schedule of the LISTA-CPSS
// / ALISTA reference code (VITA-Group; Chen et al. NeurIPS 2018, Liu et al.
// ICLR 2019). For each new layer t = 1..K (the network's active depth is t):
//   stage 0: train only the parameters layer t introduced, lr = lr0
//   stage 1: train all parameters of layers 1..t,           lr = 0.2 lr0
//   stage 2: the same,                                       lr = 0.02 lr0
// Every stage uses a fresh Adam and ends when the validation NMSE (a fixed
// set) has not improved for `patience` steps, or after max_steps_per_stage;
// the parameters with the best validation NMSE of the stage are kept. Fresh
// training batches every step come from the caller's BatchSource.
//
// Resumable: all progress lives in StagewiseState, which the caller can save
// (on_checkpoint) and pass back; a resumed run continues from the same step
// with the same optimiser state (and, if the caller restores its RNG, the
// same batches), so it ends where an uninterrupted run would.
#pragma once

#include "core/optimizers.hpp"
#include "core/types.hpp"
#include "unfolding/trainer.hpp"
#include "unfolding/unrolled_network.hpp"

#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace implicit {

struct StagewiseOptions {
  double base_learning_rate = 5e-4;                 // lr0
  std::vector<double> stage_factors{1.0, 0.2, 0.02};
  std::int64_t validate_every = 50;                 // steps between validation NMSE evaluations
  std::int64_t patience = 2000;                     // steps without improvement that end a stage
  // A validation NMSE counts as an improvement only when it beats the best
  // by more than this (dB); 0 = any improvement (the reference code). A small
  // margin ends stages that only creep, which matters on a 2-core budget.
  double min_improvement_db = 0.0;
  std::int64_t max_steps_per_stage = 20000;
  LossKind loss = LossKind::kHalfSquaredError;
  AdamOptions adam;                                  // learning_rate is set per stage
  double clip_norm = 0.0;
  // Wall-time budget for the whole run (seconds, counted across resumes);
  // 0 = none. With a budget, each stage also ends when it has used its share
  // of the time left: share = left * t / sum over the stages still to run of
  // their depth t (a step at depth t costs about t layers), so a run that is
  // short of time trains every layer a little rather than the first layers
  // fully and the last ones not at all.
  double time_budget_seconds = 0.0;
  bool IsValid(std::string* error) const;
};

struct StageRecord {
  Index layer = 0;           // 1-based
  int stage = 0;             // 0, 1, 2
  std::int64_t steps = 0;
  double best_validation_nmse_db = 0.0;
  double seconds = 0.0;
};

// Everything needed to continue training exactly where it stopped.
template <typename Scalar>
struct StagewiseState {
  Index layer = 1;                    // current layer t (1-based)
  int stage = 0;                      // current stage within the layer
  std::int64_t stage_step = 0;        // steps done in the current stage
  std::int64_t since_improvement = 0;
  std::int64_t total_steps = 0;
  double best_validation_nmse_db = std::numeric_limits<double>::infinity();
  VectorX<Scalar> best_parameters;    // network-flat, best of the current stage
  OptimizerState<Scalar> optimizer;   // of the current stage (compact trainable layout)
  std::vector<StageRecord> finished;  // stages completed
  double seconds = 0.0;               // training time so far (across resumes)
  bool done = false;
};

struct StagewiseProgress {
  Index layer = 0;
  Index depth = 0;
  int stage = 0;
  std::int64_t stage_step = 0;
  std::int64_t total_steps = 0;
  double loss = 0.0;
  double validation_nmse_db = 0.0;
  double best_validation_nmse_db = 0.0;
  double seconds = 0.0;
  // Estimated seconds until training ends: the stages still to run at the
  // mean length (steps) of the stages finished so far (the patience window
  // before any has finished) and the measured seconds per step and layer;
  // capped by the time budget. A guess, shown as one.
  double eta_seconds = 0.0;
};

struct StagewiseSummary {
  enum class Termination { kCompleted, kStopped, kDiverged };
  Termination termination = Termination::kCompleted;
  std::string message;
  std::int64_t total_steps = 0;
  double seconds = 0.0;
  std::vector<StageRecord> stages;
  std::string BriefReport() const;
};

template <typename Scalar>
struct StagewiseCallbacks {
  // After every validation (for progress display).
  std::function<void(const StagewiseProgress&)> on_progress;
  // Polled after every step: true stops training (Ctrl-C, time budget); the
  // state is then consistent and can be saved to resume later.
  std::function<bool()> should_stop;
  // Called at the end of every stage and when stopping: save the state.
  std::function<void(const StagewiseState<Scalar>&)> on_checkpoint;
};

// Trains `net` in place from `state` (a default state starts from layer 1).
// validation_inputs: input_dim x V, validation_targets: state_dim x V.
// On return the network holds the best parameters found and its active
// depth is its full depth (when completed).
template <typename Scalar>
StagewiseSummary TrainStagewise(UnrolledNetwork<Scalar>& net, const BatchSource<Scalar>& source,
                                const MatrixX<Scalar>& validation_inputs, const MatrixX<Scalar>& validation_targets,
                                const StagewiseOptions& options, StagewiseState<Scalar>& state,
                                const StagewiseCallbacks<Scalar>& callbacks = {});

}  // namespace implicit
