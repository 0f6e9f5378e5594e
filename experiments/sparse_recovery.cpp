// sparse_recovery: the LISTA family on the standard benchmark (A 250 x 500,
// x Bernoulli-Gaussian p = 0.1), trained with the literature's stage-wise
// schedule, a plain end-to-end schedule, or Ceres (small-parameter models).
//
//   sparse_recovery --model alista --layers 16 [--snr 30] [--schedule stagewise]
//
// Models (one operator per layer; see unfolding/):
//   ista, fista   untrained baselines (lambda = --baseline-lambda)
//   lista         soft(W1 b + W2 x, theta)                      (ListaLayer)
//   lista-ss      the same with support selection
//   lista-cp      soft(x + gamma W (b - A x), theta)            (ProxGradientLayer)
//   lista-cpss    the same with support selection
//   tilista       one shared W, per-layer gamma, theta, support selection
//   alista        W fixed = analytic weight (unfolding/alista.hpp), gamma, theta learned
//   slista        W fixed = A (Step-LISTA, Ablin et al. 2019), gamma, theta learned
//   admm          unrolled ADMM with per-layer rho, theta (state [z; u], readout z)
// Support selection in layer k (1-based): p_k = min(k * p, p_max) percent.
//
// Long runs: progress on stderr; Ctrl-C saves a checkpoint and exits; --resume
// continues from it (same batches: the generator state is in the checkpoint).
#include "core/checkpoint.hpp"
#include "core/data.hpp"
#include "core/interrupt.hpp"
#include "core/metrics.hpp"
#include "core/npy.hpp"
#include "core/plot.hpp"
#include "core/results.hpp"
#include "experiments/common/cli.hpp"
#include "experiments/common/sparse_models.hpp"
#include "unfolding/admm.hpp"
#include "unfolding/alista.hpp"
#include "unfolding/ceres_trainer.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/lista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/stagewise.hpp"
#include "unfolding/trainer.hpp"
#include "unfolding/unrolled_network.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>

using namespace implicit;
namespace fs = std::filesystem;

namespace {

struct Options {
  std::string model = "alista";
  Index layers = 16;
  std::string matrix_path;        // default: the shared benchmark matrix when present
  std::string test_signals_path;  // default: the shared test set when present
  double snr_db = std::numeric_limits<double>::infinity();
  double condition_number = 0.0;
  double sparsity = 0.1;
  std::string schedule = "stagewise";
  double lambda = 0.4;            // ISTA-style initialisation of the learned models
  double baseline_lambda = 0.1;   // ISTA/FISTA reference curves
  double support_p = 1.2, support_p_max = 13.0;
  double learning_rate = 5e-4;
  Index batch_size = 64;
  Index validation_samples = 1000;
  std::int64_t validate_every = 50;
  std::int64_t patience = 2000;
  std::int64_t max_steps_per_stage = 20000;
  double min_improvement_db = 0.0;
  std::int64_t budget_steps = 0;      // 0 = no step budget
  double budget_minutes = 0.0;        // 0 = no time budget
  double plan_minutes = 0.0;          // 0 = stage lengths set by patience and step cap only
  std::string init_from;              // lista(-ss) only: start from a trained lista-cp(ss) checkpoint
  std::string ceres_method = "lm";
  Index ceres_samples = 1000;
  int ceres_iterations = 200;
  double ceres_target_db = std::numeric_limits<double>::quiet_NaN();  // stop when test NMSE reaches it
  bool resume = false;
  bool quiet = false;
};

std::string DefaultShared(const std::string& file) {
  const fs::path p = fs::path("..") / "shared" / "data" / "alista" / file;
  return fs::exists(p) ? p.string() : "";
}

std::vector<std::pair<std::string, std::string>> ConfigPairs(const Options& o, std::uint64_t seed) {
  return {{"model", o.model},
          {"layers", std::to_string(o.layers)},
          {"matrix", o.matrix_path},
          {"snr_db", FormatNumber(o.snr_db)},
          {"condition_number", FormatNumber(o.condition_number)},
          {"sparsity", FormatNumber(o.sparsity)},
          {"schedule", o.schedule},
          {"lambda", FormatNumber(o.lambda)},
          {"support_p", FormatNumber(o.support_p)},
          {"support_p_max", FormatNumber(o.support_p_max)},
          {"learning_rate", FormatNumber(o.learning_rate)},
          {"batch_size", std::to_string(o.batch_size)},
          {"validate_every", std::to_string(o.validate_every)},
          {"patience", std::to_string(o.patience)},
          {"max_steps_per_stage", std::to_string(o.max_steps_per_stage)},
          {"min_improvement_db", FormatNumber(o.min_improvement_db)},
          {"seed", std::to_string(seed)}};
}

std::vector<std::pair<std::string, std::string>> ConfigPairsWithInit(const Options& o, std::uint64_t seed) {
  std::vector<std::pair<std::string, std::string>> pairs = ConfigPairs(o, seed);
  // Only when used, so that checkpoints written before the option existed still resume.
  if (!o.init_from.empty()) pairs.emplace_back("init_from", o.init_from);
  return pairs;
}

// LISTA initialised from a trained LISTA-CP(SS) network. LISTA-CP's layer
//   soft(z + gamma W (b - A z), theta) = soft(gamma W b + (I - gamma W A) z, theta)
// is LISTA's soft(W1 b + W2 z, theta) with W1 = gamma W (n x m) and
// W2 = I - gamma W A (n x n): the "weight coupling" that Chen et al. (NeurIPS
// 2018, Theorem 1) show a converging LISTA must satisfy asymptotically. So
// LISTA starts exactly at the trained LISTA-CP function and its extra freedom
// (W2 off the coupling) can only be learned on top.
// Returns the source run's training seconds (0 if it has no trainer state),
// which count toward the time this model cost.
template <typename Scalar>
double InitializeListaFromCoupled(const Options& o, const std::shared_ptr<const MatrixX<Scalar>>& a, double lipschitz,
                                  UnrolledNetwork<Scalar>& net) {
  const std::string expected = o.model == "lista" ? "lista-cp" : "lista-cpss";
  cli::Require(o.model == "lista" || o.model == "lista-ss", "init-from",
               "only lista (from lista-cp) and lista-ss (from lista-cpss) can be initialised from a checkpoint");
  const LoadedSparseModel<Scalar> source = LoadSparseModel<Scalar>(o.init_from, a, lipschitz);
  if (source.config.model != expected) {
    throw Error(o.init_from + ": holds a '" + source.config.model + "' model; --model " + o.model + " needs a '" +
                expected + "' checkpoint");
  }
  if (source.config.layers != net.depth()) {
    throw Error(o.init_from + ": has " + std::to_string(source.config.layers) + " layers, --layers is " +
                std::to_string(net.depth()));
  }
  const Index n = a->cols();
  for (Index k = 0; k < net.depth(); ++k) {
    const ParameterSet<Scalar>& from = source.net->layer(k).parameters();
    ParameterSet<Scalar>& to = net.layer(k).parameters();
    const Scalar gamma = from.Block(from.Find("gamma"))(0, 0);
    const MatrixX<Scalar> w1 = gamma * from.Block(from.Find("W"));  // n x m
    MatrixX<Scalar> w2 = MatrixX<Scalar>::Identity(n, n);
    w2.noalias() -= w1 * *a;
    to.Block(to.Find("W1")) = w1;
    to.Block(to.Find("W2")) = w2;
    to.Block(to.Find("theta")) = from.Block(from.Find("theta"));
  }
  return source.checkpoint.has_trainer_state ? source.checkpoint.Real("seconds") : 0.0;
}

template <typename Scalar>
struct Problem {
  std::shared_ptr<const MatrixX<Scalar>> a;
  double lipschitz = 0.0;
  MatrixX<Scalar> test_x, test_b;
};

template <typename Scalar>
MatrixX<Scalar> Measure(const MatrixX<Scalar>& a, const MatrixX<Scalar>& x, double snr_db, Rng& rng) {
  MatrixX<Scalar> b = a * x;
  if (std::isfinite(snr_db)) AddNoiseAtSnr<Scalar>(b, snr_db, rng);
  return b;
}

// The model itself is built by experiments/common/sparse_models (shared with
// the robustness evaluation, which restores this program's checkpoints).
SparseModelConfig ModelConfig(const Options& o) {
  SparseModelConfig c;
  c.model = o.model;
  c.layers = o.layers;
  c.lambda = o.lambda;
  c.support_p = o.support_p;
  c.support_p_max = o.support_p_max;
  return c;
}

template <typename Scalar>
std::unique_ptr<UnrolledNetwork<Scalar>> BuildModel(const Options& o, const Problem<Scalar>& p) {
  return BuildSparseModel<Scalar>(ModelConfig(o), p.a, p.lipschitz);
}

template <typename Scalar>
std::vector<double> NmsePerLayer(const UnrolledNetwork<Scalar>& net, const Problem<Scalar>& p) {
  std::vector<MatrixX<Scalar>> outputs;
  net.ForwardAllLayers(MatrixX<Scalar>::Zero(net.state_dim(), p.test_b.cols()), p.test_b, outputs);
  std::vector<double> nmse;
  for (const MatrixX<Scalar>& out : outputs) {
    const MatrixX<Scalar> z = out.topRows(p.test_x.rows());
    nmse.push_back(z.allFinite() ? NmseDb<Scalar>(z, p.test_x) : std::numeric_limits<double>::infinity());
  }
  return nmse;
}

template <typename Scalar>
std::vector<double> LassoCurve(const Problem<Scalar>& p, LassoSolverOptions::Method method, double lambda, Index iterations) {
  LassoSolverOptions o;
  o.method = method;
  o.lambda = lambda;
  o.lipschitz = p.lipschitz;
  o.max_iterations = static_cast<int>(iterations);
  std::vector<double> curve;
  MatrixX<Scalar> x = MatrixX<Scalar>::Zero(p.a->cols(), p.test_b.cols());
  SolveLasso<Scalar>(*p.a, p.test_b, o, x, [&](int, ConstMatRef<Scalar> xk) { curve.push_back(NmseDb<Scalar>(xk, p.test_x)); });
  return curve;
}

// ---- checkpoints of the stage-wise state

template <typename Scalar>
void SaveState(const fs::path& path, const Options& o, std::uint64_t seed, const UnrolledNetwork<Scalar>& net,
               const StagewiseState<Scalar>& s, const Rng& rng, double init_train_seconds) {
  Checkpoint<Scalar> c;
  c.model_kind = o.model;
  c.config = ConfigPairsWithInit(o, seed);
  CaptureParameters(net.parameters(), c);
  c.has_trainer_state = true;
  c.optimizer = "adam";
  c.optimizer_state = s.optimizer;
  c.integers = {{"layer", s.layer}, {"stage", s.stage}, {"stage_step", s.stage_step},
                {"since_improvement", s.since_improvement}, {"total_steps", s.total_steps}, {"done", s.done ? 1 : 0}};
  c.reals = {{"best_validation_nmse_db", s.best_validation_nmse_db}, {"seconds", s.seconds}};
  if (!o.init_from.empty()) c.reals.emplace_back("init_train_seconds", init_train_seconds);
  c.strings = {{"batch_rng", SerializeRng(rng)}};
  Eigen::VectorXd layer_of(s.finished.size()), stage_of(s.finished.size()), steps_of(s.finished.size()),
      nmse_of(s.finished.size()), seconds_of(s.finished.size());
  for (size_t i = 0; i < s.finished.size(); ++i) {
    layer_of(i) = s.finished[i].layer;
    stage_of(i) = s.finished[i].stage;
    steps_of(i) = static_cast<double>(s.finished[i].steps);
    nmse_of(i) = s.finished[i].best_validation_nmse_db;
    seconds_of(i) = s.finished[i].seconds;
  }
  c.vectors = {{"best_parameters", s.best_parameters.template cast<double>()}, {"finished_layer", layer_of},
               {"finished_stage", stage_of}, {"finished_steps", steps_of}, {"finished_nmse", nmse_of},
               {"finished_seconds", seconds_of}};
  SaveCheckpoint(path.string(), c);
}

template <typename Scalar>
void LoadState(const fs::path& path, const Options& o, std::uint64_t seed, UnrolledNetwork<Scalar>& net,
               StagewiseState<Scalar>& s, Rng& rng, double& init_train_seconds) {
  const Checkpoint<Scalar> c = LoadCheckpoint<Scalar>(path.string());
  RequireSameConfig(c, ConfigPairsWithInit(o, seed));
  RestoreParameters(c, net.parameters());
  s.layer = c.Integer("layer");
  s.stage = static_cast<int>(c.Integer("stage"));
  s.stage_step = c.Integer("stage_step");
  s.since_improvement = c.Integer("since_improvement");
  s.total_steps = c.Integer("total_steps");
  s.done = c.Integer("done") != 0;
  s.best_validation_nmse_db = c.Real("best_validation_nmse_db");
  s.seconds = c.Real("seconds");
  s.optimizer = c.optimizer_state;
  s.best_parameters = c.Vector("best_parameters").template cast<Scalar>();
  const Eigen::VectorXd& layer_of = c.Vector("finished_layer");
  for (Index i = 0; i < layer_of.size(); ++i) {
    s.finished.push_back({static_cast<Index>(layer_of(i)), static_cast<int>(c.Vector("finished_stage")(i)),
                          static_cast<std::int64_t>(c.Vector("finished_steps")(i)), c.Vector("finished_nmse")(i),
                          c.Vector("finished_seconds")(i)});
  }
  DeserializeRng(c.String("batch_rng"), rng);
  bool recorded = false;
  for (const auto& [key, value] : c.reals) {
    if (key == "init_train_seconds") {
      init_train_seconds = value;
      recorded = true;
    }
  }
  // Checkpoints written before the source's time was recorded: read it from
  // the source checkpoint if it is still there.
  if (!recorded && !o.init_from.empty() && fs::exists(o.init_from)) {
    const Checkpoint<Scalar> source = LoadCheckpoint<Scalar>(o.init_from);
    if (source.has_trainer_state) init_train_seconds = source.Real("seconds");
  }
}

template <typename Scalar>
int Run(const Options& o, const cli::CommonOptions& common) {
  EnsureDirectory(common.output);
  const fs::path out(common.output);
  const bool progress = !o.quiet && isatty(STDERR_FILENO);
  Problem<Scalar> p;
  Rng matrix_rng(common.seed), test_rng(common.seed + 1), validation_rng(common.seed + 2), batch_rng(common.seed + 3);
  if (!o.matrix_path.empty()) {
    p.a = std::make_shared<const MatrixX<Scalar>>(ReadNpyMatrix<Scalar>(o.matrix_path));
    RequireFinite(*p.a, o.matrix_path);
  } else {
    MeasurementMatrixOptions mo;
    mo.condition_number = o.condition_number;
    p.a = std::make_shared<const MatrixX<Scalar>>(GaussianMeasurementMatrix<Scalar>(250, 500, matrix_rng, mo));
  }
  const Index n = p.a->cols();
  p.lipschitz = EstimateLipschitz<Scalar>(*p.a);  // 1.001 ||A||_2^2
  if (!o.test_signals_path.empty()) {
    p.test_x = ReadNpyMatrix<Scalar>(o.test_signals_path);
    RequireFinite(p.test_x, o.test_signals_path);
    if (p.test_x.rows() != n) {
      throw Error(o.test_signals_path + ": test signals have " + std::to_string(p.test_x.rows()) +
                  " rows, the matrix has " + std::to_string(n) + " columns");
    }
  } else {
    p.test_x = BernoulliGaussian<Scalar>(n, 1000, o.sparsity, test_rng);
  }
  p.test_b = Measure<Scalar>(*p.a, p.test_x, o.snr_db, test_rng);
  std::printf("sparse_recovery: model %s, K = %lld, A %lldx%lld (%s), %lld test signals, SNR %s dB, schedule %s\n",
              o.model.c_str(), static_cast<long long>(o.layers), static_cast<long long>(p.a->rows()),
              static_cast<long long>(n), o.matrix_path.empty() ? "generated" : o.matrix_path.c_str(),
              static_cast<long long>(p.test_x.cols()), FormatNumber(o.snr_db).c_str(), o.schedule.c_str());

  const std::vector<double> ista = LassoCurve(p, LassoSolverOptions::Method::kIsta, o.baseline_lambda, o.layers);
  const std::vector<double> fista = LassoCurve(p, LassoSolverOptions::Method::kFista, o.baseline_lambda, o.layers);
  std::vector<double> curve;
  double train_seconds = 0.0;
  double init_train_seconds = 0.0;  // --init-from: the source model's training time
  Index num_params = 0;
  std::string training_report = "none (untrained baseline)";
  int exit_code = cli::kExitOk;
  if (o.model == "ista" || o.model == "fista") {
    curve = o.model == "ista" ? ista : fista;
  } else {
    auto net = BuildModel<Scalar>(o, p);
    // Not when resuming: the checkpoint holds the parameters (and the source file may have moved).
    const bool resuming = o.resume && fs::exists(out / "checkpoint.ckpt");
    if (!o.init_from.empty() && !resuming) {
      init_train_seconds = InitializeListaFromCoupled<Scalar>(o, p.a, p.lipschitz, *net);
    }
    num_params = net->parameters().size();
    const std::vector<double> untrained = NmsePerLayer(*net, p);
    std::printf("parameters: %lld; untrained NMSE at layer %lld: %.2f dB\n", static_cast<long long>(num_params),
                static_cast<long long>(o.layers), untrained.back());
    BatchSource<Scalar> source = [&](std::int64_t, MatrixX<Scalar>& inputs, MatrixX<Scalar>& targets) {
      targets = BernoulliGaussian<Scalar>(n, o.batch_size, o.sparsity, batch_rng);
      inputs = Measure<Scalar>(*p.a, targets, o.snr_db, batch_rng);
    };
    const auto start = std::chrono::steady_clock::now();
    auto minutes = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60.0; };
    InstallInterruptHandler();
    if (o.schedule == "stagewise") {
      const MatrixX<Scalar> val_x = BernoulliGaussian<Scalar>(n, o.validation_samples, o.sparsity, validation_rng);
      const MatrixX<Scalar> val_b = Measure<Scalar>(*p.a, val_x, o.snr_db, validation_rng);
      StagewiseOptions so;
      so.base_learning_rate = o.learning_rate;
      so.validate_every = o.validate_every;
      so.patience = o.patience;
      so.max_steps_per_stage = o.max_steps_per_stage;
      so.min_improvement_db = o.min_improvement_db;
      so.time_budget_seconds = o.plan_minutes * 60.0;
      StagewiseState<Scalar> state;
      const fs::path checkpoint = out / "checkpoint.ckpt";
      if (o.resume && fs::exists(checkpoint)) {
        LoadState(checkpoint, o, common.seed, *net, state, batch_rng, init_train_seconds);
        std::printf("resumed from %s: layer %lld, stage %d, %lld steps done\n", checkpoint.string().c_str(),
                    static_cast<long long>(state.layer), state.stage, static_cast<long long>(state.total_steps));
      }
      StagewiseCallbacks<Scalar> callbacks;
      callbacks.on_progress = [&](const StagewiseProgress& pr) {
        if (!progress) return;
        std::fprintf(stderr,
                     "\r  layer %2lld/%lld stage %d step %7lld  loss %.3e  val %7.2f dB (best %7.2f)  %6.1fs  ETA ~%.1f min ",
                     static_cast<long long>(pr.layer), static_cast<long long>(pr.depth), pr.stage,
                     static_cast<long long>(pr.stage_step), pr.loss, pr.validation_nmse_db, pr.best_validation_nmse_db,
                     pr.seconds, pr.eta_seconds / 60.0);
      };
      callbacks.should_stop = [&] {
        return InterruptRequested() || (o.budget_minutes > 0 && minutes() >= o.budget_minutes) ||
               (o.budget_steps > 0 && state.total_steps >= o.budget_steps);
      };
      callbacks.on_checkpoint = [&](const StagewiseState<Scalar>& s) {
        SaveState(checkpoint, o, common.seed, *net, s, batch_rng, init_train_seconds);
        if (!o.quiet) {
          std::fprintf(stderr, "%s  layer %lld stage %d done: best validation %.2f dB (%lld steps total)\n",
                       progress ? "\n" : "", static_cast<long long>(s.finished.empty() ? 0 : s.finished.back().layer),
                       s.finished.empty() ? 0 : s.finished.back().stage,
                       s.finished.empty() ? 0.0 : s.finished.back().best_validation_nmse_db,
                       static_cast<long long>(s.total_steps));
        }
      };
      const StagewiseSummary summary = TrainStagewise<Scalar>(*net, source, val_b, val_x, so, state, callbacks);
      train_seconds = summary.seconds;
      training_report = summary.BriefReport();
      if (summary.termination == StagewiseSummary::Termination::kStopped) {
        std::printf("%s\ncheckpoint saved to %s; continue with --resume\n", training_report.c_str(),
                    checkpoint.string().c_str());
        exit_code = InterruptRequested() ? 130 : cli::kExitOk;
      } else if (summary.termination == StagewiseSummary::Termination::kDiverged) {
        exit_code = cli::kExitFailure;
      }
    } else if (o.schedule == "end-to-end") {
      TrainerOptions to;
      to.steps = o.budget_steps > 0 ? o.budget_steps : 20000;
      to.loss = LossKind::kHalfSquaredError;
      to.schedule.kind = LearningRateSchedule::Kind::kCosine;
      to.schedule.base = o.learning_rate;
      to.schedule.total_steps = to.steps;
      to.schedule.min_lr = 0.01 * o.learning_rate;
      to.log_every = progress ? 100 : 0;
      const TrainingSummary s = TrainSupervised<Scalar>(*net, source, to, [&](const TrainingProgress& pr) {
        std::fprintf(stderr, "\r  step %7lld  loss %.3e  lr %.2e  %6.1fs ", static_cast<long long>(pr.step), pr.loss,
                     pr.learning_rate, pr.seconds);
      });
      train_seconds = s.seconds;
      training_report = s.BriefReport();
      if (s.termination != TrainingSummary::Termination::kCompleted) exit_code = cli::kExitFailure;
    } else {
      if constexpr (std::is_same_v<Scalar, double>) {
        cli::Require(num_params <= 200, "schedule", "ceres is for small-parameter models (alista, admm, or few layers)");
        const MatrixX<Scalar> train_x = BernoulliGaussian<Scalar>(n, o.ceres_samples, o.sparsity, batch_rng);
        const MatrixX<Scalar> train_b = Measure<Scalar>(*p.a, train_x, o.snr_db, batch_rng);
        CeresTrainerOptions co;
        co.method = ParseCeresTrainerMethod(o.ceres_method);
        co.max_iterations = o.ceres_iterations;
        // Test NMSE after every Ceres iteration: the wall time to reach a
        // target (e.g. the Adam result) is read off this trace.
        co.metric = [&] { return NmsePerLayer(*net, p).back(); };
        if (!std::isnan(o.ceres_target_db)) co.stop_when = [&](double nmse) { return nmse <= o.ceres_target_db; };
        const CeresTrainerSummary s = TrainWithCeres(*net, train_b, train_x, co);
        train_seconds = s.seconds;
        training_report = s.BriefReport();
        CsvTable trace({"iteration", "seconds", "loss", "test_nmse_db"});
        for (size_t i = 0; i < s.loss_trace.size(); ++i) {
          trace.AddRow(std::vector<double>{static_cast<double>(i), s.time_trace[i], s.loss_trace[i],
                                           i < s.metric_trace.size() ? s.metric_trace[i] : std::nan("")});
        }
        trace.Save((out / "ceres_trace.csv").string());
      } else {
        throw Error("--schedule ceres needs --precision double");
      }
    }
    if (progress) std::fprintf(stderr, "\n");
    std::cout << training_report << "\n";
    net->set_active_depth(net->depth());  // a stopped stage-wise run may have fewer active layers
    curve = NmsePerLayer(*net, p);
    WriteNpy<Scalar>((out / "parameters.npy").string(),
                     Eigen::Map<const MatrixX<Scalar>>(net->parameters().Flat().data(), num_params, 1));
  }

  CsvTable csv({"layer", o.model, "ista", "fista"});
  for (Index k = 0; k < o.layers; ++k) {
    const auto i = static_cast<size_t>(k);
    csv.AddRow(std::vector<double>{static_cast<double>(k + 1), curve[i], ista[i], fista[i]});
  }
  csv.Save((out / "nmse_per_layer.csv").string());
  std::vector<double> axis(static_cast<size_t>(o.layers));
  for (Index k = 0; k < o.layers; ++k) axis[static_cast<size_t>(k)] = static_cast<double>(k + 1);
  PlotOptions plot;
  plot.title = o.model + " on A " + std::to_string(p.a->rows()) + "x" + std::to_string(n) + ", SNR " + FormatNumber(o.snr_db) + " dB";
  plot.x_label = "layer / iteration";
  plot.y_label = "test NMSE (dB)";
  std::vector<double> shown = curve;
  for (double& v : shown) v = std::min(v, 20.0);
  SaveSvgPlot((out / "nmse_vs_layer.svg").string(), plot,
              {{o.model, axis, shown, SeriesStyle::kLineMarkers, ""},
               {"ISTA (lambda " + FormatNumber(o.baseline_lambda) + ")", axis, ista, SeriesStyle::kLineMarkers, ""},
               {"FISTA (lambda " + FormatNumber(o.baseline_lambda) + ")", axis, fista, SeriesStyle::kLineMarkers, ""}});
  JsonObject json;
  json.Set("experiment", "sparse_recovery").Set("model", o.model).Set("layers", static_cast<long long>(o.layers))
      .Set("snr_db", o.snr_db).Set("schedule", o.schedule).Set("nmse_db_per_layer", curve)
      .Set("nmse_db_final", curve.back()).Set("train_seconds", train_seconds)
      .Set("init_from", o.init_from).Set("init_from_train_seconds", init_train_seconds)
      .Set("num_params", static_cast<long long>(num_params)).Set("training_report", training_report)
      .Set("fista_nmse_db_final", fista.back()).Set("ista_nmse_db_final", ista.back())
      .Set("seed", static_cast<long long>(common.seed));
  json.Save((out / "summary.json").string());
  std::printf("test NMSE at layer %lld: %s %.2f dB (ISTA %.2f, FISTA %.2f at lambda %g); results in %s/\n",
              static_cast<long long>(o.layers), o.model.c_str(), curve.back(), ista.back(), fista.back(),
              o.baseline_lambda, out.string().c_str());
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "sparse_recovery";
  Options o;
  o.matrix_path = DefaultShared("A_m250_n500.npy");
  o.test_signals_path = DefaultShared("xtest_n500_p10.npy");
  cli::CommonOptions common;
  std::string precision = "float";
  std::string snr_text = "inf";
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/sparse_recovery");
  desc.add_options()
      ("model", cli::Default(&o.model), "ista, fista, lista, lista-ss, lista-cp, lista-cpss, tilista, alista, slista, admm")
      ("layers", cli::Default(&o.layers), "K")
      ("matrix", cli::Default(&o.matrix_path), "A (.npy; default the shared 250x500 benchmark matrix when present; 'none' = generate a 250x500 Gaussian A)")
      ("test-signals", cli::Default(&o.test_signals_path), "test signals (.npy, one per column; default the shared set; 'none' = generate 1000)")
      ("snr", cli::Default(&snr_text), "measurement SNR in dB, or inf")
      ("condition-number", cli::Default(&o.condition_number), "for a generated A: prescribed condition number (0 = natural)")
      ("sparsity", cli::Default(&o.sparsity), "Bernoulli-Gaussian p of training/validation signals")
      ("schedule", cli::Default(&o.schedule), "stagewise, end-to-end or ceres")
      ("lambda", cli::Default(&o.lambda), "lambda of the ISTA-style initialisation (theta = lambda / L)")
      ("baseline-lambda", cli::Default(&o.baseline_lambda), "lambda of the ISTA/FISTA reference curves")
      ("support-p", cli::Default(&o.support_p), "support selection: percent added per layer")
      ("support-p-max", cli::Default(&o.support_p_max), "support selection: maximum percent")
      ("lr", cli::Default(&o.learning_rate), "lr0 (stage-wise) or peak lr (end-to-end)")
      ("batch-size", cli::Default(&o.batch_size), "fresh training samples per step")
      ("validation-samples", cli::Default(&o.validation_samples), "fixed validation set size")
      ("validate-every", cli::Default(&o.validate_every), "steps between validations")
      ("patience", cli::Default(&o.patience), "stage ends after this many steps without validation improvement")
      ("max-steps-per-stage", cli::Default(&o.max_steps_per_stage), "step cap per stage")
      ("min-improvement-db", cli::Default(&o.min_improvement_db), "validation gain (dB) that resets the patience window")
      ("budget-steps", cli::Default(&o.budget_steps), "stop (with a checkpoint) after this many steps; 0 = none")
      ("budget-minutes", cli::Default(&o.budget_minutes), "stop (with a checkpoint) after this many minutes; 0 = none")
      ("init-from", cli::Default(&o.init_from),
       "lista / lista-ss only: start from a trained lista-cp / lista-cpss checkpoint (W1 = gamma W, W2 = I - gamma W A, "
       "the same function), instead of the ISTA initialisation")
      ("plan-minutes", cli::Default(&o.plan_minutes),
       "stage-wise: plan the stages to end training within this many minutes in all (across resumes): each stage "
       "also ends when it has used its depth-weighted share of the time left; 0 = no plan")
      ("ceres-method", cli::Default(&o.ceres_method), "lm or lbfgs (with --schedule ceres)")
      ("ceres-samples", cli::Default(&o.ceres_samples), "fixed training set size for --schedule ceres")
      ("ceres-iterations", cli::Default(&o.ceres_iterations), "Ceres iteration cap")
      ("ceres-target-db", cli::po::value(&o.ceres_target_db), "with --schedule ceres: stop once the test NMSE is <= this (dB)")
      ("precision", cli::Default(&precision), "float or double")
      ("resume", cli::po::bool_switch(&o.resume), "continue from <output>/checkpoint.ckpt")
      ("quiet", cli::po::bool_switch(&o.quiet), "no progress output");
  if (auto code = cli::Parse(argc, argv, desc, program, "train and evaluate LISTA-family models on sparse recovery", common)) {
    return *code;
  }
  return cli::RunExperiment(program, [&] {
    o.snr_db = cli::ParseSnr(snr_text);
    if (o.matrix_path == "none") o.matrix_path.clear();            // generate A
    if (o.test_signals_path == "none") o.test_signals_path.clear();  // generate the test set
    cli::Require(o.layers > 0, "layers", "must be > 0");
    cli::Require(o.schedule == "stagewise" || o.schedule == "end-to-end" || o.schedule == "ceres", "schedule",
                 "must be stagewise, end-to-end or ceres");
    cli::Require(o.sparsity > 0 && o.sparsity <= 1, "sparsity", "must be in (0, 1]");
    cli::Require(o.batch_size > 0 && o.validation_samples > 0, "batch-size", "sizes must be > 0");
    cli::Require(o.budget_steps >= 0 && o.budget_minutes >= 0, "budget-steps", "budgets must be >= 0");
    cli::Require(o.plan_minutes >= 0, "plan-minutes", "must be >= 0");
    if (precision == "double") return Run<double>(o, common);
    cli::Require(precision == "float", "precision", "must be float or double");
    if (o.schedule == "ceres") throw Error("--schedule ceres needs --precision double");
    return Run<float>(o, common);
  });
}
