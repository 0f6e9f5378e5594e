// depth_compare: finite depth vs infinite depth on sparse recovery.
//
// One operator family, the learned proximal-gradient step
//   f(z; b) = soft(z + gamma W (b - A z), theta)     (unfolding/prox_gradient.hpp)
// is trained (a) as untied unrolled networks of K in --depths layers
// (LISTA-CP, backprop through K stored layers) and (b) tied, as a deep
// equilibrium model z* = f(z*; b) (Anderson forward, IFT backward). Then:
//   * test NMSE vs test-time iterations 1..T for every model (unrolled nets
//     past their trained depth repeat their last layer; the DEQ runs plain
//     iteration or Anderson for t iterations; ISTA/FISTA for reference);
//   * training peak heap memory vs depth K and vs DEQ forward iterations;
//   * training and inference wall time;
//   * iterations to relative residual 1e-6: Anderson vs plain iteration on
//     the trained DEQ operator;
//   * the same loss's gradient by IFT, JFB, phantom and full unrolling:
//     cosine similarity to IFT and time per step.
// Trained parameters are saved per model as they finish (atomic .npy); with
// --resume a rerun loads them instead of retraining.
#include "core/data.hpp"
#include "core/memory_tracker.hpp"
#include "core/metrics.hpp"
#include "core/npy.hpp"
#include "core/plot.hpp"
#include "core/results.hpp"
#include "deq/deq_model.hpp"
#include "experiments/common/cli.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/trainer.hpp"
#include "unfolding/unrolled_network.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>

using namespace implicit;
using Scalar = float;
using Matrix = MatrixX<Scalar>;
namespace fs = std::filesystem;

namespace {

struct Options {
  std::string preset = "small";
  Index signal_dim = 0, measurement_dim = 0;  // 0 = from the preset
  double sparsity = 0.1;
  double snr_db = 40.0;
  std::string depths = "1,2,4,8,16";
  std::int64_t steps = 0;                     // 0 = from the preset
  Index batch_size = 64;
  double learning_rate = 1e-3;
  double lambda = 0.1;                        // ISTA initialisation and baselines
  Index test_samples = 1000;
  int test_iterations = 64;
  std::string memory_iterations = "20,50,100,200,500";
  int deq_train_iterations = 100;
  double damping = 1.0;
  std::string deq_train_backward = "ift";  // beta of plain iteration (solver comparison, curves, unrolled/phantom backprop)
  bool resume = false;
  std::int64_t log_every = 500;
};

std::vector<int> ParseIntList(const std::string& text, const std::string& flag) {
  std::vector<int> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const int v = std::stoi(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      values.push_back(v);
    } catch (const std::exception&) {
      throw Error("--" + flag + ": '" + item + "' is not a positive integer (expected e.g. 1,2,4)");
    }
  }
  if (values.empty()) throw Error("--" + flag + ": empty list");
  return values;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Problem {
  std::shared_ptr<const Matrix> a;
  double lipschitz = 0.0;
  Matrix test_x, test_b;
};

// Measurements of a batch of signals, with noise at the run's SNR.
Matrix Measure(const Problem& p, const Matrix& x, double snr_db, Rng& rng) {
  Matrix b = *p.a * x;
  if (std::isfinite(snr_db)) AddNoiseAtSnr<Scalar>(b, snr_db, rng);
  return b;
}

std::unique_ptr<ProxGradientLayer<Scalar>> IstaInitialisedLayer(const Problem& p, double lambda) {
  return std::make_unique<ProxGradientLayer<Scalar>>(p.a, p.a->transpose(), 1.0 / p.lipschitz, lambda / p.lipschitz);
}

std::unique_ptr<UnrolledNetwork<Scalar>> MakeUnrolled(const Problem& p, int depth, double lambda) {
  std::vector<std::unique_ptr<Operator<Scalar>>> layers;
  for (int k = 0; k < depth; ++k) layers.push_back(IstaInitialisedLayer(p, lambda));
  return std::make_unique<UnrolledNetwork<Scalar>>(std::move(layers));
}

DeqOptions TrainingDeqOptions(int iterations) {
  DeqOptions o;
  o.forward.max_iterations = iterations;
  o.forward.relative_tolerance = 1e-5;
  o.forward.trace = FixedPointOptions::Trace::kSummary;  // O(1) memory in iterations
  o.adjoint.max_iterations = iterations;
  o.adjoint.relative_tolerance = 1e-5;
  o.adjoint.trace = FixedPointOptions::Trace::kSummary;
  return o;
}

// Trains `model` on fresh batches; loads instead when --resume finds its checkpoint.
double TrainOrLoad(Operator<Scalar>& model, const std::string& name, const Problem& p, const Options& o,
                   std::int64_t steps, const fs::path& out, std::uint64_t seed,
                   const std::function<std::string()>& extra_progress = {}) {
  const fs::path checkpoint = out / ("model_" + name + ".npy");
  if (o.resume && fs::exists(checkpoint)) {
    const Matrix saved = ReadNpyMatrix<Scalar>(checkpoint.string());
    if (saved.rows() != model.parameters().size() || saved.cols() != 1) {
      throw Error(checkpoint.string() + ": holds " + std::to_string(saved.rows()) + "x" + std::to_string(saved.cols()) +
                  " parameters, model " + name + " has " + std::to_string(model.parameters().size()) +
                  " (was it written with other settings?)");
    }
    RequireFinite(saved, checkpoint.string());
    model.parameters().Flat() = saved.col(0);
    std::cout << "  " << name << ": loaded " << checkpoint.string() << " (--resume)\n";
    return 0.0;
  }
  Rng rng(seed);
  BatchSource<Scalar> source = [&](std::int64_t, Matrix& inputs, Matrix& targets) {
    targets = BernoulliGaussian<Scalar>(p.a->cols(), o.batch_size, o.sparsity, rng);
    inputs = Measure(p, targets, o.snr_db, rng);
  };
  TrainerOptions trainer;
  trainer.steps = steps;
  trainer.loss = LossKind::kHalfSquaredError;
  trainer.schedule.kind = LearningRateSchedule::Kind::kCosine;
  trainer.schedule.base = o.learning_rate;
  trainer.schedule.total_steps = std::max<std::int64_t>(1, steps);
  trainer.schedule.min_lr = 0.02 * o.learning_rate;
  trainer.clip_norm = 10.0;
  trainer.log_every = o.log_every;
  const TrainingSummary s = TrainSupervised<Scalar>(model, source, trainer, [&](const TrainingProgress& pr) {
    std::printf("  %-10s step %6lld/%lld  loss %.4e  lr %.2e  %.1fs%s\n", name.c_str(),
                static_cast<long long>(pr.step), static_cast<long long>(steps), pr.loss, pr.learning_rate, pr.seconds,
                extra_progress ? extra_progress().c_str() : "");
    std::fflush(stdout);
  });
  if (s.termination != TrainingSummary::Termination::kCompleted) {
    throw Error("training " + name + " failed: " + s.BriefReport());
  }
  WriteNpy<Scalar>(checkpoint.string(), Eigen::Map<const Matrix>(model.parameters().Flat().data(),
                                                                 model.parameters().size(), 1));
  return s.seconds;
}

// NMSE in dB, or +inf when the estimate has overflowed (an unrolled net run
// far past its trained depth, or plain iteration on an unstable map): a
// diverged model is a result to report, not an error.
double NmseOrInfinity(const Matrix& estimate, const Matrix& truth) {
  if (!estimate.allFinite()) return std::numeric_limits<double>::infinity();
  return NmseDb<Scalar>(estimate, truth);
}

// NMSE after t = 1..T layers; past depth K the last layer is repeated.
std::vector<double> UnrolledCurve(const UnrolledNetwork<Scalar>& net, const Problem& p, int iterations) {
  std::vector<double> curve;
  Matrix z = Matrix::Zero(p.a->cols(), p.test_b.cols()), next(z.rows(), z.cols());
  for (int t = 1; t <= iterations; ++t) {
    net.layer(std::min<Index>(t, net.depth()) - 1).Forward(z, p.test_b, next);
    z.swap(next);
    curve.push_back(NmseOrInfinity(z, p.test_x));
  }
  return curve;
}

// NMSE after t iterations of a fixed-point solver on `cell` (current iterate).
std::vector<double> SolverCurve(const Operator<Scalar>& cell, const Problem& p, int iterations,
                                FixedPointOptions::Method method, double damping) {
  std::vector<double> curve(static_cast<size_t>(iterations), std::nan(""));
  FixedPointOptions o;
  o.method = method;
  if (method == FixedPointOptions::Method::kFixedPoint) o.damping = damping;
  o.max_iterations = iterations;
  o.relative_tolerance = 0.0;
  o.absolute_tolerance = 1e-30;  // run every iteration unless exactly converged
  o.trace = FixedPointOptions::Trace::kNone;
  Matrix z = Matrix::Zero(p.a->cols(), p.test_b.cols());
  double last = std::nan("");
  SolveFixedPoint<Scalar>([&](ConstMatRef<Scalar> v, MatRef<Scalar> fz) { cell.Forward(v, p.test_b, fz); }, z, o,
                          [&](int k, ConstMatRef<Scalar> current) {
                            last = NmseOrInfinity(current, p.test_x);
                            curve[static_cast<size_t>(k - 1)] = last;
                          });
  for (double& v : curve) {
    if (std::isnan(v)) v = last;  // converged exactly earlier: the iterate no longer changes
  }
  return curve;
}

std::vector<double> LassoCurve(const Problem& p, LassoSolverOptions::Method method, double lambda, int iterations) {
  std::vector<double> curve;
  LassoSolverOptions o;
  o.method = method;
  o.lambda = lambda;
  o.lipschitz = p.lipschitz;
  o.max_iterations = iterations;
  Matrix x = Matrix::Zero(p.a->cols(), p.test_b.cols());
  SolveLasso<Scalar>(*p.a, p.test_b, o, x, [&](int, ConstMatRef<Scalar> xk) { curve.push_back(NmseDb<Scalar>(xk, p.test_x)); });
  return curve;
}

// Peak extra heap bytes of one training step (forward + loss + backward).
long long TrainingStepPeakBytes(Operator<Scalar>& model, const Matrix& b, const Matrix& x) {
  Matrix grad_out(x.rows(), x.cols());
  VectorX<Scalar> grad = VectorX<Scalar>::Zero(model.parameters().size());
  const Matrix z0 = Matrix::Zero(x.rows(), x.cols());
  HeapPeakScope scope;
  {
    const auto lin = model.Linearize(z0, b);
    if (!lin->Value().allFinite()) throw Error(model.name() + ": non-finite output in the memory probe");
    EvaluateLoss<Scalar>(LossKind::kHalfSquaredError, lin->Value(), x, grad_out);
    lin->VjpParams(grad_out, grad);
  }
  return scope.PeakExtraBytes();
}

int Run(Options o, const cli::CommonOptions& common) {
  cli::Require(o.preset == "small" || o.preset == "full", "preset", "must be small or full");
  const bool full = o.preset == "full";
  if (o.signal_dim == 0) o.signal_dim = full ? 500 : 100;
  if (o.measurement_dim == 0) o.measurement_dim = full ? 250 : 50;
  if (o.steps == 0) o.steps = full ? 20000 : 6000;
  cli::Require(o.signal_dim > 0 && o.measurement_dim > 0, "signal-dim", "sizes must be > 0");
  cli::Require(o.sparsity > 0.0 && o.sparsity <= 1.0, "sparsity", "must be in (0, 1]");
  cli::Require(!std::isnan(o.snr_db), "snr", "must be a number (inf = noiseless)");
  cli::Require(o.steps > 0, "steps", "must be > 0");
  cli::Require(o.batch_size > 0, "batch-size", "must be > 0");
  cli::Require(o.learning_rate > 0.0, "lr", "must be > 0");
  cli::Require(o.lambda > 0.0, "lambda", "must be > 0");
  cli::Require(o.test_samples > 0, "test-samples", "must be > 0");
  cli::Require(o.test_iterations > 0, "test-iterations", "must be > 0");
  cli::Require(o.deq_train_iterations > 0, "deq-train-iterations", "must be > 0");
  cli::Require(o.damping > 0.0 && o.damping <= 1.0, "damping", "must be in (0, 1]");
  const std::vector<int> depths = ParseIntList(o.depths, "depths");
  const std::vector<int> memory_iterations = ParseIntList(o.memory_iterations, "memory-iterations");
  EnsureDirectory(common.output);
  const fs::path out(common.output);
  const auto run_start = std::chrono::steady_clock::now();

  // ---- problem: A, test set (seed-derived streams).
  Problem p;
  Rng matrix_rng(common.seed), test_rng(common.seed + 1);
  const fs::path shared_a = fs::path("..") / "shared" / "data" / "alista" / "A_m250_n500.npy";
  if (full && o.signal_dim == 500 && o.measurement_dim == 250 && fs::exists(shared_a)) {
    p.a = std::make_shared<const Matrix>(ReadNpyMatrix<Scalar>(shared_a.string()));
    std::cout << "matrix: " << shared_a.string() << "\n";
  } else {
    p.a = std::make_shared<const Matrix>(GaussianMeasurementMatrix<Scalar>(o.measurement_dim, o.signal_dim, matrix_rng));
  }
  p.lipschitz = EstimateLipschitz<Scalar>(*p.a);
  p.test_x = BernoulliGaussian<Scalar>(o.signal_dim, o.test_samples, o.sparsity, test_rng);
  p.test_b = Measure(p, p.test_x, o.snr_db, test_rng);
  std::printf("depth_compare (%s): A %lldx%lld, p = %.2f, SNR %s dB, %lld training steps of batch %lld per model\n",
              o.preset.c_str(), static_cast<long long>(o.measurement_dim), static_cast<long long>(o.signal_dim),
              o.sparsity, std::isfinite(o.snr_db) ? FormatNumber(o.snr_db).c_str() : "inf",
              static_cast<long long>(o.steps), static_cast<long long>(o.batch_size));

  JsonObject summary;
  summary.Set("experiment", "depth_compare").Set("preset", o.preset);
  CsvTable models_csv({"model", "parameters", "train_seconds", "inference_seconds", "nmse_db_at_trained_depth",
                       "nmse_db_at_max_iterations"});
  std::map<std::string, std::vector<double>> curves;
  std::vector<std::string> curve_order;

  // ---- unrolled networks.
  std::cout << "training unrolled networks (LISTA-CP form, untied)\n";
  for (int k : depths) {
    auto net = MakeUnrolled(p, k, o.lambda);
    const std::string name = "unrolled_K" + std::to_string(k);
    const double train_seconds = TrainOrLoad(*net, name, p, o, o.steps, out, common.seed + 100 + k);
    Matrix estimate(p.test_x.rows(), p.test_x.cols());
    const auto t0 = std::chrono::steady_clock::now();
    net->Forward(Matrix::Zero(estimate.rows(), estimate.cols()), p.test_b, estimate);
    const double inference = Seconds(t0);
    const std::vector<double> curve = UnrolledCurve(*net, p, o.test_iterations);
    curves[name] = curve;
    curve_order.push_back(name);
    models_csv.AddRow(std::vector<std::string>{name, std::to_string(net->parameters().size()), FormatNumber(train_seconds),
                                               FormatNumber(inference), FormatNumber(NmseDb<Scalar>(estimate, p.test_x)),
                                               FormatNumber(curve.back())});
    std::printf("  %-12s NMSE at K=%d: %7.2f dB   at %d iterations: %7.2f dB\n", name.c_str(), k,
                NmseDb<Scalar>(estimate, p.test_x), o.test_iterations, curve.back());
  }

  // ---- DEQ with the same operator, tied.
  std::cout << "training the DEQ (tied operator, Anderson forward, " << o.deq_train_backward << " backward)\n";
  DeqOptions train_options = TrainingDeqOptions(o.deq_train_iterations);
  train_options.backward = ParseDeqBackward(o.deq_train_backward);
  cli::Require(train_options.backward != DeqBackward::kUnrolled, "deq-train-backward", "must be ift, jfb or phantom");
  DeqModel<Scalar> deq(IstaInitialisedLayer(p, o.lambda), train_options);
  const double deq_train_seconds = TrainOrLoad(deq, "deq", p, o, o.steps, out, common.seed + 200, [&] {
    const FixedPointSummary& s = deq.last_forward_summary().solve;
    std::ostringstream extra;
    extra << "  forward: median " << s.median_sample_iterations() << " it., " << s.num_converged() << "/"
          << s.converged.size() << " converged";
    return extra.str();
  });
  DeqOptions eval_options = deq.options();
  eval_options.forward.relative_tolerance = 1e-4;
  eval_options.forward.max_iterations = 500;
  eval_options.forward.trace = FixedPointOptions::Trace::kPerSample;
  eval_options.estimate_spectral_radius = true;
  deq.options() = eval_options;
  Matrix deq_estimate(p.test_x.rows(), p.test_x.cols());
  auto t0 = std::chrono::steady_clock::now();
  deq.Forward(Matrix::Zero(deq_estimate.rows(), deq_estimate.cols()), p.test_b, deq_estimate);
  const double deq_inference = Seconds(t0);
  const DeqForwardSummary deq_forward = deq.last_forward_summary();
  std::cout << "  DEQ test solve: " << deq_forward.BriefReport() << "\n";
  const double deq_nmse = NmseDb<Scalar>(deq_estimate, p.test_x);
  for (auto [name, method] : {std::pair{"deq_fixed_point", FixedPointOptions::Method::kFixedPoint},
                              std::pair{"deq_anderson", FixedPointOptions::Method::kAnderson}}) {
    curves[name] = SolverCurve(deq.cell(), p, o.test_iterations, method, o.damping);
    curve_order.push_back(name);
  }
  models_csv.AddRow(std::vector<std::string>{"deq", std::to_string(deq.parameters().size()), FormatNumber(deq_train_seconds),
                                             FormatNumber(deq_inference), FormatNumber(deq_nmse),
                                             FormatNumber(curves["deq_anderson"].back())});
  std::printf("  %-12s NMSE at equilibrium (rtol 1e-4): %7.2f dB   Anderson after %d it.: %7.2f dB\n", "deq", deq_nmse,
              o.test_iterations, curves["deq_anderson"].back());
  curves["ista"] = LassoCurve(p, LassoSolverOptions::Method::kIsta, o.lambda, o.test_iterations);
  curves["fista"] = LassoCurve(p, LassoSolverOptions::Method::kFista, o.lambda, o.test_iterations);
  curve_order.push_back("ista");
  curve_order.push_back("fista");

  // ---- iterations to tolerance: the trained DEQ operator, and its ISTA
  // initialisation (the set-up of shared/NOTES.md) for reference.
  CsvTable solver_csv({"operator", "method", "median_iterations", "max_iterations", "converged", "samples"});
  double anderson_median = 0.0, plain_median = 0.0;
  const auto ista_cell = IstaInitialisedLayer(p, o.lambda);
  for (const auto& [op_name, cell] : {std::pair<std::string, const Operator<Scalar>*>{"trained", &deq.cell()},
                                      std::pair<std::string, const Operator<Scalar>*>{"ista_init", ista_cell.get()}}) {
    const Index n_eval = std::min<Index>(256, o.test_samples);
    const Matrix b = p.test_b.leftCols(n_eval);
    for (auto method : {FixedPointOptions::Method::kFixedPoint, FixedPointOptions::Method::kAnderson}) {
      FixedPointOptions fo;
      fo.method = method;
      fo.relative_tolerance = 1e-6;
      fo.max_iterations = 5000;
      if (method == FixedPointOptions::Method::kFixedPoint) fo.damping = o.damping;
      fo.trace = FixedPointOptions::Trace::kNone;
      Matrix z = Matrix::Zero(p.a->cols(), n_eval);
      const FixedPointSummary s = SolveFixedPoint<Scalar>(
          [&](ConstMatRef<Scalar> v, MatRef<Scalar> fz) { cell->Forward(v, b, fz); }, z, fo);
      const bool anderson = method == FixedPointOptions::Method::kAnderson;
      if (op_name == "trained") (anderson ? anderson_median : plain_median) = s.median_sample_iterations();
      const int worst = *std::max_element(s.sample_iterations.begin(), s.sample_iterations.end());
      solver_csv.AddRow(std::vector<std::string>{op_name, anderson ? "anderson" : "fixed_point",
                                                 FormatNumber(s.median_sample_iterations()), std::to_string(worst),
                                                 std::to_string(s.num_converged()), std::to_string(n_eval)});
      std::printf("  %-9s operator, iterations to rel. residual 1e-6 (%s): median %.1f, max %d, %d/%lld converged\n",
                  op_name.c_str(), anderson ? "Anderson m=5" : "plain iteration", s.median_sample_iterations(), worst,
                  s.num_converged(), static_cast<long long>(n_eval));
    }
  }

  // ---- gradients of the same loss by each backward mode (one batch).
  CsvTable grad_csv({"mode", "cosine_to_ift", "relative_difference_to_ift", "milliseconds_per_step"});
  {
    Rng rng(common.seed + 300);
    const Matrix x = BernoulliGaussian<Scalar>(p.a->cols(), o.batch_size, o.sparsity, rng);
    const Matrix b = Measure(p, x, o.snr_db, rng);
    std::map<std::string, VectorX<double>> grads;
    for (DeqBackward mode : {DeqBackward::kImplicit, DeqBackward::kJacobianFree, DeqBackward::kPhantom, DeqBackward::kUnrolled}) {
      DeqOptions go = TrainingDeqOptions(o.deq_train_iterations);
      go.backward = mode;
      if (mode == DeqBackward::kUnrolled) go.forward.max_iterations = 200;
      go.forward.damping = mode == DeqBackward::kUnrolled ? o.damping : 1.0;
      go.phantom_damping = std::min(0.5, o.damping);
      deq.options() = go;
      VectorX<Scalar> grad = VectorX<Scalar>::Zero(deq.parameters().size());
      Matrix grad_out(x.rows(), x.cols());
      const int repeats = 5;
      const auto start = std::chrono::steady_clock::now();
      for (int r = 0; r < repeats; ++r) {
        grad.setZero();
        const auto lin = deq.Linearize(Matrix::Zero(x.rows(), x.cols()), b);
        if (!lin->Value().allFinite()) {  // e.g. plain iteration diverging on an unstable map
          grad.setConstant(std::numeric_limits<Scalar>::quiet_NaN());
          break;
        }
        EvaluateLoss<Scalar>(LossKind::kHalfSquaredError, lin->Value(), x, grad_out);
        lin->VjpParams(grad_out, grad);
      }
      const double ms = 1000.0 * Seconds(start) / repeats;
      const std::string name = DeqBackwardName(mode);
      grads[name] = grad.cast<double>();
      const VectorX<double>& ift = grads["ift"];
      const double cosine = grads[name].dot(ift) / (grads[name].norm() * ift.norm());
      const double rel = (grads[name] - ift).norm() / ift.norm();
      grad_csv.AddRow(std::vector<std::string>{name, FormatNumber(cosine), FormatNumber(rel), FormatNumber(ms)});
      std::printf("  gradient %-9s cosine to IFT %.6f, rel. difference %.3e, %.2f ms per step%s\n", name.c_str(), cosine,
                  rel, ms, grads[name].allFinite() ? "" : "  (NON-FINITE: the forward iteration diverged)");
    }
    deq.options() = eval_options;
  }

  // ---- training memory: unrolled vs depth, DEQ vs forward iterations.
  CsvTable memory_csv({"model", "depth_or_iterations", "peak_bytes"});
  std::map<int, long long> unrolled_memory, deq_memory, deq_backprop_memory;
  if (!MemoryTrackerEnabled()) {
    std::cout << "  memory tracker not active (e.g. under valgrind): memory figures skipped\n";
  } else {
    Rng rng(common.seed + 400);
    const Matrix x = BernoulliGaussian<Scalar>(p.a->cols(), o.batch_size, o.sparsity, rng);
    const Matrix b = Measure(p, x, o.snr_db, rng);
    for (int k : depths) {
      auto net = MakeUnrolled(p, k, o.lambda);
      unrolled_memory[k] = TrainingStepPeakBytes(*net, b, x);
      memory_csv.AddRow(std::vector<std::string>{"unrolled", std::to_string(k), std::to_string(unrolled_memory[k])});
    }
    for (int n : memory_iterations) {
      for (DeqBackward mode : {DeqBackward::kImplicit, DeqBackward::kUnrolled}) {
        DeqOptions mo = TrainingDeqOptions(n);
        mo.backward = mode;
        mo.forward.relative_tolerance = 0.0;  // exactly n forward iterations
        mo.forward.absolute_tolerance = 1e-30;
        mo.adjoint.max_iterations = 50;       // the same backward work at every n
        mo.adjoint.relative_tolerance = 0.0;
        mo.adjoint.absolute_tolerance = 1e-30;
        // ISTA-initialised (stable) parameters: memory does not depend on the
        // values, and full backprop through plain iteration needs a stable map.
        DeqModel<Scalar> probe(IstaInitialisedLayer(p, o.lambda), mo);
        const long long bytes = TrainingStepPeakBytes(probe, b, x);
        const bool ift = mode == DeqBackward::kImplicit;
        (ift ? deq_memory : deq_backprop_memory)[n] = bytes;
        memory_csv.AddRow(std::vector<std::string>{ift ? "deq_ift" : "deq_full_backprop", std::to_string(n),
                                                   std::to_string(bytes)});
      }
    }
    std::printf("  training-step peak heap, unrolled by depth K:");
    for (auto [k, bytes] : unrolled_memory) std::printf("  %d: %.0f KiB", k, bytes / 1024.0);
    std::printf("\n  training-step peak heap, DEQ (IFT) by forward iterations:");
    for (auto [n, bytes] : deq_memory) std::printf("  %d: %.0f KiB", n, bytes / 1024.0);
    std::printf("\n  training-step peak heap, DEQ with full backprop by iterations:");
    for (auto [n, bytes] : deq_backprop_memory) std::printf("  %d: %.0f KiB", n, bytes / 1024.0);
    std::printf("\n");
  }

  // ---- files.
  CsvTable curve_csv([&] {
    std::vector<std::string> header{"iteration"};
    for (const std::string& name : curve_order) header.push_back(name);
    return header;
  }());
  for (int t = 1; t <= o.test_iterations; ++t) {
    std::vector<double> row{static_cast<double>(t)};
    for (const std::string& name : curve_order) row.push_back(curves[name][static_cast<size_t>(t - 1)]);
    curve_csv.AddRow(row);
  }
  curve_csv.Save((out / "nmse_vs_iterations.csv").string());
  models_csv.Save((out / "models.csv").string());
  solver_csv.Save((out / "solver_iterations.csv").string());
  grad_csv.Save((out / "gradients.csv").string());
  if (memory_csv.num_rows() > 0) memory_csv.Save((out / "memory.csv").string());

  std::vector<double> axis(static_cast<size_t>(o.test_iterations));
  for (int t = 1; t <= o.test_iterations; ++t) axis[static_cast<size_t>(t - 1)] = t;
  // Unrolled nets run past their depth can blow up to hundreds of dB; the
  // plot clips at +10 dB so the interesting range stays readable (the CSV
  // and summary.json keep the real values).
  constexpr double kPlotCeilingDb = 10.0;
  std::vector<PlotSeries> series;
  // Unrolled depths in blues/purples (light = shallow), DEQ in black/grey,
  // ISTA/FISTA in warm colours: 9+ series need more than the default palette.
  const std::vector<std::string> depth_colours{"#9ecae1", "#6baed6", "#3182bd", "#08519c", "#54278f", "#7a0177", "#c51b8a"};
  size_t depth_index = 0;
  for (const std::string& name : curve_order) {
    std::vector<double> shown = curves[name];
    for (double& v : shown) v = std::min(v, kPlotCeilingDb);
    std::string colour;
    if (name.rfind("unrolled", 0) == 0) {
      colour = depth_colours[std::min(depth_index++, depth_colours.size() - 1)];
    } else if (name == "deq_anderson") {
      colour = "#000000";
    } else if (name == "deq_fixed_point") {
      colour = "#969696";
    } else if (name == "ista") {
      colour = "#a6611a";
    } else {
      colour = "#e66101";
    }
    series.push_back({name, axis, shown, SeriesStyle::kLine, colour});
  }
  PlotOptions plot;
  plot.title = "Test NMSE vs iterations (unrolled nets repeat their last layer past K; clipped at +10 dB)";
  plot.x_label = "iterations / layers applied";
  plot.y_label = "NMSE (dB)";
  plot.width = 960;
  plot.height = 600;
  SaveSvgPlot((out / "nmse_vs_iterations.svg").string(), plot, series);
  if (!unrolled_memory.empty()) {
    auto to_series = [](const std::string& label, const std::map<int, long long>& m) {
      PlotSeries s{label, {}, {}, SeriesStyle::kLineMarkers, ""};
      for (auto [k, bytes] : m) {
        s.x.push_back(k);
        s.y.push_back(bytes / (1024.0 * 1024.0));
      }
      return s;
    };
    PlotOptions mem;
    mem.title = "Training-step peak heap memory";
    mem.x_label = "unrolled depth K / DEQ forward iterations";
    mem.y_label = "MiB";
    SaveSvgPlot((out / "memory_vs_depth.svg").string(), mem,
                {to_series("unrolled (backprop through K layers)", unrolled_memory),
                 to_series("DEQ, IFT backward", deq_memory),
                 to_series("DEQ, full backprop through iterations", deq_backprop_memory)});
  }

  JsonObject nmse_json, unrolled_json, deq_json, backprop_json, config;
  for (const std::string& name : curve_order) nmse_json.Set(name, curves[name]);
  for (auto [k, bytes] : unrolled_memory) unrolled_json.Set(std::to_string(k), bytes);
  for (auto [n, bytes] : deq_memory) deq_json.Set(std::to_string(n), bytes);
  for (auto [n, bytes] : deq_backprop_memory) backprop_json.Set(std::to_string(n), bytes);
  config.Set("signal_dim", static_cast<long long>(o.signal_dim))
      .Set("measurement_dim", static_cast<long long>(o.measurement_dim))
      .Set("sparsity", o.sparsity)
      .Set("snr_db", o.snr_db)
      .Set("steps", static_cast<long long>(o.steps))
      .Set("batch_size", static_cast<long long>(o.batch_size))
      .Set("learning_rate", o.learning_rate)
      .Set("lambda", o.lambda)
      .Set("depths", o.depths)
      .Set("test_samples", static_cast<long long>(o.test_samples))
      .Set("deq_train_iterations", static_cast<long long>(o.deq_train_iterations))
      .Set("seed", static_cast<long long>(common.seed));
  summary.Set("config", config)
      .Set("anderson_iterations_median", anderson_median)
      .Set("fixed_point_iterations_median", plain_median)
      .Set("anderson_to_fixed_point_ratio", plain_median > 0 ? anderson_median / plain_median : std::nan(""))
      .Set("deq_peak_memory_bytes_by_iterations", deq_json)
      .Set("deq_full_backprop_peak_memory_bytes_by_iterations", backprop_json)
      .Set("unrolled_peak_memory_bytes_by_depth", unrolled_json)
      .Set("nmse_db_vs_iterations", nmse_json)
      .Set("deq_nmse_db", deq_nmse)
      .Set("deq_spectral_radius", deq_forward.spectral_radius)
      .Set("deq_forward_report", deq_forward.BriefReport())
      .Set("seconds", Seconds(run_start));
  summary.Save((out / "summary.json").string());
  std::printf("done in %.1f s; results in %s/ (summary.json, nmse_vs_iterations.svg, memory_vs_depth.svg, *.csv)\n",
              Seconds(run_start), out.string().c_str());
  // A DEQ whose test-time solve did not converge is a failed run, not a footnote.
  if (deq_forward.solve.termination == FixedPointSummary::Termination::kDiverged) {
    std::cerr << "depth_compare: the DEQ forward solve diverged: " << deq_forward.BriefReport() << "\n";
    return cli::kExitFailure;
  }
  return cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "depth_compare";
  Options o;
  cli::CommonOptions common;
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/depth_compare");
  desc.add_options()
      ("preset", cli::Default(&o.preset), "small (100x50, ~2 min) or full (the 250x500 benchmark matrix)")
      ("signal-dim", cli::Default(&o.signal_dim), "n (0 = from the preset)")
      ("measurements", cli::Default(&o.measurement_dim), "m (0 = from the preset)")
      ("sparsity", cli::Default(&o.sparsity), "Bernoulli-Gaussian non-zero probability p")
      ("snr", cli::Default(&o.snr_db), "measurement SNR in dB (inf = noiseless)")
      ("depths", cli::Default(&o.depths), "unrolled depths K to train, comma-separated")
      ("steps", cli::Default(&o.steps), "Adam steps per model (0 = from the preset: 6000 small, 20000 full)")
      ("batch-size", cli::Default(&o.batch_size), "fresh random samples per step")
      ("lr", cli::Default(&o.learning_rate), "Adam learning rate (cosine decay to 2%)")
      ("lambda", cli::Default(&o.lambda), "lambda of the ISTA initialisation and of the ISTA/FISTA baselines")
      ("test-samples", cli::Default(&o.test_samples), "held-out test signals")
      ("test-iterations", cli::Default(&o.test_iterations), "test-time iteration budget T (curves 1..T)")
      ("memory-iterations", cli::Default(&o.memory_iterations), "DEQ forward iteration counts for the memory measurement")
      ("deq-train-iterations", cli::Default(&o.deq_train_iterations), "DEQ forward/adjoint iteration cap in training")
      ("deq-train-backward", cli::Default(&o.deq_train_backward), "DEQ training gradient: ift, jfb or phantom")
      ("damping", cli::Default(&o.damping), "beta of plain fixed-point iteration: z+ = (1-beta) z + beta f(z)")
      ("resume", cli::po::bool_switch(&o.resume), "reuse models already trained in --output (model_*.npy)")
      ("log-every", cli::Default(&o.log_every), "progress line every N steps");
  if (auto code = cli::Parse(argc, argv, desc, program,
                             "finite-depth unrolled networks vs a deep equilibrium model on sparse recovery", common)) {
    return *code;
  }
  return cli::RunExperiment(program, [&] { return Run(o, common); });
}
