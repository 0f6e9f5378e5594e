// sequence_recovery: sparse recovery of correlated sequences (issue 7). A
// DUST-style unfolded Transformer (De Weerdt, Eldar, Deligiannis, "Deep
// Unfolding Transformers for Sparse Recovery of Video", IEEE TSP 72, 2024)
// against frame-by-frame baselines, all on the same data:
//
//   dust      K DustLayers: attention over the frames' estimates -> side
//             information s_t -> l1-l1 proximal-gradient step (unfolding/dust.hpp)
//   causal    the same layer with s_t = Wv z_{t-1} (previous frame only; the
//             RNN-style unfolding that preceded DUST)
//   lista     frame-by-frame LISTA, soft(W1 b_t + W2 z_t, theta) (unfolding/lista.hpp)
//   alista    frame-by-frame ALISTA, analytic W, learned gamma, theta, support
//             selection (unfolding/prox_gradient.hpp + unfolding/alista.hpp)
//   fista     FISTA per frame, K iterations and 500 iterations (lambda picked
//             on a validation set)
//   dust-deq  one DustLayer as a DEQ cell (deq/deq_model.hpp), trained with
//             Jacobian-free backprop; reported with its solver statistics
//
// Data: the seeded generator of unfolding/sequence_data.hpp (--drift, --shift,
// --rho, --sparsity, --snr), or your own sequences: --signals x.npy with shape
// (N, T, S) (the first --test-fraction of the S sequences are the test set,
// the rest are sampled for training). Measurements b_t = A x_t + noise,
// A M x N Gaussian with unit columns (or --matrix A.npy, M x N).
//
// Outputs in --output: summary.json, nmse_per_frame.csv, table.md (one
// markdown row per model), nmse_vs_frame.svg, sequence_stem.svg.
#include "core/data.hpp"
#include "core/metrics.hpp"
#include "core/npy.hpp"
#include "core/plot.hpp"
#include "core/results.hpp"
#include "deq/deq_model.hpp"
#include "experiments/common/cli.hpp"
#include "unfolding/alista.hpp"
#include "unfolding/dust.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/lista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/sequence_data.hpp"
#include "unfolding/trainer.hpp"
#include "unfolding/unrolled_network.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <sstream>

using namespace implicit;
namespace fs = std::filesystem;
using Scalar = float;
using Mat = MatrixX<Scalar>;

namespace {

struct Options {
  SequenceOptions data;            // N, T, k, drift, shift, rho
  Index measurements = 50;         // M
  double snr_db = 30.0;
  std::string signals_path;        // (N, T, S) .npy; empty = generator
  std::string matrix_path;         // M x N .npy; empty = Gaussian
  double test_fraction = 0.2;
  Index test_sequences = 500;
  Index validation_sequences = 200;
  Index layers = 8;                // K
  std::int64_t steps = 3000;
  Index batch = 32;                // sequences per step
  double learning_rate = 1e-3;
  double lambda = 0.1;             // ISTA-style initialisation: theta = lambda / L
  Index heads = 1;
  Index key_dim = 16;
  std::string models = "dust,dust-a,causal,lista,alista,fista,dust-deq";
  std::int64_t deq_steps = 600;
  int deq_iterations = 30;
  std::string save_test_signals;   // write the test sequences as (N, T, S) .npy
  bool quiet = false;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// NMSE (dB) of each frame over the set, and overall. x, truth: (N*T) x S.
std::vector<double> NmsePerFrame(const Mat& x, const Mat& truth, Index n, Index frames) {
  std::vector<double> out;
  for (Index t = 0; t < frames; ++t) {
    out.push_back(NmseDb<Scalar>(x.middleRows(t * n, n), truth.middleRows(t * n, n)));
  }
  return out;
}

struct ModelResult {
  std::string name;
  std::string description;
  Mat estimate;                    // (N*T) x S test estimate
  double nmse_db = 0;
  std::vector<double> nmse_per_frame;
  long long num_params = 0;
  double train_seconds = 0;
  double inference_seconds = 0;    // whole test set
  std::string report;
  JsonObject extra;
};

struct Data {
  std::shared_ptr<const Mat> a;
  double lipschitz = 0;
  Mat test_x, test_b, val_x, val_b;
  Mat train_x;                     // file mode only
};

class Experiment {
 public:
  Experiment(const Options& o, std::uint64_t seed, bool progress) : o_(o), seed_(seed), progress_(progress) {}

  void Prepare() {
    Rng rng(seed_);
    const Index n = o_.data.signal_dim, t_len = o_.data.frames;
    if (!o_.matrix_path.empty()) {
      Mat a = ReadNpyMatrix<Scalar>(o_.matrix_path);
      if (a.rows() != o_.measurements || a.cols() != n) {
        throw Error(o_.matrix_path + ": expected shape (" + std::to_string(o_.measurements) + ", " + std::to_string(n) +
                    ") = (--measurements, --n), got (" + std::to_string(a.rows()) + ", " + std::to_string(a.cols()) + ")");
      }
      RequireFinite(a, o_.matrix_path);
      d_.a = std::make_shared<const Mat>(std::move(a));
    } else {
      d_.a = std::make_shared<const Mat>(GaussianMeasurementMatrix<Scalar>(o_.measurements, n, rng));
    }
    d_.lipschitz = 1.01 * SpectralNormSquared<Scalar>(*d_.a, rng, 500);
    Rng data_rng(seed_ + 1);
    if (!o_.signals_path.empty()) {
      const Mat all = ReadSequencesNpy<Scalar>(o_.signals_path, n, t_len);
      const Index count = all.cols();
      const auto test = static_cast<Index>(std::floor(o_.test_fraction * static_cast<double>(count)));
      const auto val = std::min<Index>(o_.validation_sequences, (count - test) / 5);
      if (test < 1 || count - test - val < 1 || val < 1) {
        throw Error(o_.signals_path + ": " + std::to_string(count) +
                    " sequences are too few for a test, validation and training split (--test-fraction " +
                    FormatNumber(o_.test_fraction) + ")");
      }
      d_.test_x = all.leftCols(test);
      d_.val_x = all.middleCols(test, val);
      d_.train_x = all.rightCols(count - test - val);
    } else {
      d_.test_x = GenerateSequences<Scalar>(o_.data, o_.test_sequences, data_rng);
      d_.val_x = GenerateSequences<Scalar>(o_.data, o_.validation_sequences, data_rng);
    }
    d_.test_b = MeasureSequences<Scalar>(*d_.a, d_.test_x, t_len, o_.snr_db, data_rng);
    if (!o_.save_test_signals.empty()) {  // the (N, T, S) format that --signals reads
      NpyArray<Scalar> array;
      array.shape = {n, t_len, d_.test_x.cols()};
      array.data.assign(d_.test_x.data(), d_.test_x.data() + d_.test_x.size());
      WriteNpy<Scalar>(o_.save_test_signals, array);
    }
    d_.val_b = MeasureSequences<Scalar>(*d_.a, d_.val_x, t_len, o_.snr_db, data_rng);
  }

  // A training batch of whole sequences (fresh from the generator, or sampled
  // from the file's training split).
  void SequenceBatch(Rng& rng, Mat& b, Mat& x) const {
    if (d_.train_x.size() == 0) {
      x = GenerateSequences<Scalar>(o_.data, o_.batch, rng);
    } else {
      x.resize(d_.train_x.rows(), o_.batch);
      std::uniform_int_distribution<Index> pick(0, d_.train_x.cols() - 1);
      for (Index j = 0; j < o_.batch; ++j) x.col(j) = d_.train_x.col(pick(rng));
    }
    b = MeasureSequences<Scalar>(*d_.a, x, o_.data.frames, o_.snr_db, rng);
  }

  TrainingSummary Train(Operator<Scalar>& op, bool frames, std::int64_t steps, const std::string& label) const {
    Rng batch_rng(seed_ + 7);  // every model sees the same sequences
    TrainerOptions to;
    to.steps = steps;
    to.loss = LossKind::kHalfSquaredError;
    to.schedule.kind = LearningRateSchedule::Kind::kCosine;
    to.schedule.base = o_.learning_rate;
    to.schedule.total_steps = steps;
    to.schedule.min_lr = 0.01 * o_.learning_rate;
    to.clip_norm = 10.0;
    to.log_every = progress_ ? 25 : 0;
    BatchSource<Scalar> source = [&](std::int64_t, Mat& b, Mat& x) {
      SequenceBatch(batch_rng, b, x);
      if (frames) {
        b = SequencesToFrames<Scalar>(b, o_.data.frames);
        x = SequencesToFrames<Scalar>(x, o_.data.frames);
      }
    };
    const TrainingSummary s = TrainSupervised<Scalar>(op, source, to, [&](const TrainingProgress& pr) {
      std::fprintf(stderr, "\r  %-9s step %6lld/%lld  loss %.3e  %6.1fs ", label.c_str(), static_cast<long long>(pr.step),
                   static_cast<long long>(steps), pr.loss, pr.seconds);
    });
    if (progress_) std::fprintf(stderr, "\n");
    if (s.termination != TrainingSummary::Termination::kCompleted) {
      throw Error(label + ": training diverged: " + s.BriefReport());
    }
    return s;
  }

  // Runs op on the test set (sequence or frame layout), timing it.
  Mat Infer(const Operator<Scalar>& op, bool frames, double& seconds) const {
    const Index t_len = o_.data.frames;
    const Mat b = frames ? SequencesToFrames<Scalar>(d_.test_b, t_len) : d_.test_b;
    Mat out(op.state_dim(), b.cols());
    const auto start = std::chrono::steady_clock::now();
    op.Forward(Mat::Zero(op.state_dim(), b.cols()), b, out);
    seconds = Seconds(start);
    return frames ? FramesToSequences<Scalar>(out, t_len) : out;
  }

  void Finish(ModelResult& r) const {
    RequireFinite(r.estimate, r.name + " test estimate");
    r.nmse_db = NmseDb<Scalar>(r.estimate, d_.test_x);
    r.nmse_per_frame = NmsePerFrame(r.estimate, d_.test_x, o_.data.signal_dim, o_.data.frames);
    std::printf("%-9s NMSE %7.2f dB  params %8lld  train %7.1f s  inference %.3f s\n", r.name.c_str(), r.nmse_db,
                r.num_params, r.train_seconds, r.inference_seconds);
    std::fflush(stdout);
  }

  DustLayerConfig DustConfig(SideInformation side) const {
    DustLayerConfig c;
    c.signal_dim = o_.data.signal_dim;
    c.measurement_dim = o_.measurements;
    c.frames = o_.data.frames;
    c.side_information = side;
    c.heads = o_.heads;
    c.key_dim = o_.key_dim;
    return c;
  }

  // analytic: ALISTA's fixed W (analytic weight, N x M), only gamma and the
  // thresholds learned in the gradient step; else W learned from A^T.
  std::unique_ptr<DustLayer<Scalar>> MakeDustLayer(SideInformation side, Rng& rng, bool analytic = false) const {
    // ISTA-like start: W = A^T, gamma = 1/L, theta1 + theta2 = lambda / L
    // (analytic W: diag(W^T A) = 1, so gamma = 1 is ISTA's step, as in ALISTA).
    const double inv_l = 1.0 / d_.lipschitz;
    DustLayerConfig config = DustConfig(side);
    config.learn_weight = !analytic;
    const Mat w = analytic ? Mat(AnalyticWeight<Scalar>(*d_.a).transpose()) : Mat(d_.a->transpose());
    auto layer = std::make_unique<DustLayer<Scalar>>(d_.a, w, analytic ? 1.0 : inv_l, 0.5 * o_.lambda * inv_l,
                                                     0.5 * o_.lambda * inv_l, config);
    layer->InitializeAttention(rng);
    return layer;
  }

  ModelResult RunDust(const std::string& name, SideInformation side, bool analytic = false) const {
    Rng rng(seed_ + 3);
    std::vector<std::unique_ptr<Operator<Scalar>>> layers;
    for (Index k = 0; k < o_.layers; ++k) layers.push_back(MakeDustLayer(side, rng, analytic));
    UnrolledNetwork<Scalar> net(std::move(layers));
    ModelResult r;
    r.name = name;
    r.description = side == SideInformation::kAttention ? "DUST-style: attention side information + l1-l1 prox"
                                                         : "causal: previous-frame side information + l1-l1 prox";
    if (analytic) r.description += " (ALISTA's analytic W fixed)";
    r.num_params = static_cast<long long>(net.parameters().size());
    const TrainingSummary s = Train(net, false, o_.steps, name);
    r.train_seconds = s.seconds;
    r.report = s.BriefReport();
    r.estimate = Infer(net, false, r.inference_seconds);
    std::vector<double> theta1, theta2, gamma;
    for (Index k = 0; k < net.depth(); ++k) {
      const auto& layer = dynamic_cast<const DustLayer<Scalar>&>(net.layer(k));
      theta1.push_back(layer.theta1());
      theta2.push_back(layer.theta2());
      gamma.push_back(layer.gamma());
    }
    r.extra.Set("gamma_per_layer", gamma).Set("theta1_per_layer", theta1).Set("theta2_per_layer", theta2);
    Finish(r);
    return r;
  }

  ModelResult RunFrameModel(const std::string& name) const {
    const Mat& a = *d_.a;
    const Index n = a.cols(), m = a.rows();
    std::vector<std::unique_ptr<Operator<Scalar>>> layers;
    Mat analytic;
    if (name == "alista") analytic = AnalyticWeight<Scalar>(a).transpose();
    for (Index k = 1; k <= o_.layers; ++k) {
      if (name == "lista") {
        auto layer = std::make_unique<ListaLayer<Scalar>>(ListaLayerConfig{n, m, false, 0.0});
        layer->InitializeFromIsta(a, d_.lipschitz, o_.lambda);
        layers.push_back(std::move(layer));
      } else {
        // ALISTA (Liu et al., ICLR 2019): support selection p_k = min(1.2 k, 13) percent.
        const double percent = std::min(1.2 * static_cast<double>(k), 13.0);
        layers.push_back(std::make_unique<ProxGradientLayer<Scalar>>(d_.a, analytic, 1.0, o_.lambda / d_.lipschitz,
                                                                     ProxGradientConfig{false, percent}));
      }
    }
    UnrolledNetwork<Scalar> net(std::move(layers));
    ModelResult r;
    r.name = name;
    r.description = name == "lista" ? "frame-by-frame LISTA" : "frame-by-frame ALISTA (analytic W, support selection)";
    r.num_params = static_cast<long long>(net.parameters().size());
    const TrainingSummary s = Train(net, true, o_.steps, name);
    r.train_seconds = s.seconds;
    r.report = s.BriefReport();
    r.estimate = Infer(net, true, r.inference_seconds);
    Finish(r);
    return r;
  }

  // FISTA per frame; lambda from a grid, chosen on the validation set at 500 iterations.
  std::vector<ModelResult> RunFista() const {
    const Index t_len = o_.data.frames;
    const Mat val_b = SequencesToFrames<Scalar>(d_.val_b, t_len);
    const Mat test_b = SequencesToFrames<Scalar>(d_.test_b, t_len);
    auto solve = [&](const Mat& b, double lambda, int iterations, double& seconds) {
      LassoSolverOptions lo;
      lo.method = LassoSolverOptions::Method::kFista;
      lo.lambda = lambda;
      lo.lipschitz = d_.lipschitz;
      lo.max_iterations = iterations;
      Mat x = Mat::Zero(d_.a->cols(), b.cols());
      const auto start = std::chrono::steady_clock::now();
      SolveLasso<Scalar>(*d_.a, b, lo, x);
      seconds = Seconds(start);
      return FramesToSequences<Scalar>(x, t_len);
    };
    double best_lambda = 0, best = std::numeric_limits<double>::infinity(), unused = 0;
    JsonObject grid;
    for (double lambda : {0.002, 0.005, 0.01, 0.02, 0.05, 0.1}) {
      const double v = NmseDb<Scalar>(solve(val_b, lambda, 500, unused), d_.val_x);
      grid.Set(FormatNumber(lambda), v);
      if (v < best) {
        best = v;
        best_lambda = lambda;
      }
    }
    std::vector<ModelResult> out;
    for (int iterations : {static_cast<int>(o_.layers), 500}) {
      ModelResult r;
      r.name = iterations == 500 ? "fista-500" : "fista-K";
      r.description = "FISTA per frame, " + std::to_string(iterations) + " iterations, lambda " + FormatNumber(best_lambda);
      r.estimate = solve(test_b, best_lambda, iterations, r.inference_seconds);
      r.report = "lambda chosen on validation (500 iterations)";
      r.extra.Set("lambda", best_lambda).Set("iterations", iterations).Set("validation_nmse_db_by_lambda", grid);
      Finish(r);
      out.push_back(std::move(r));
    }
    return out;
  }

  // One DustLayer as a DEQ cell: z* = f(z*; b), Anderson forward, JFB backward.
  ModelResult RunDeq() const {
    Rng rng(seed_ + 3);
    DeqOptions dopt;
    dopt.forward.max_iterations = o_.deq_iterations;
    dopt.forward.relative_tolerance = 1e-4;
    dopt.forward.trace = FixedPointOptions::Trace::kSummary;
    dopt.backward = DeqBackward::kJacobianFree;
    DeqModel<Scalar> deq(MakeDustLayer(SideInformation::kAttention, rng), dopt);
    ModelResult r;
    r.name = "dust-deq";
    r.description = "one DUST layer as a DEQ cell (Anderson, JFB backward, " + std::to_string(o_.deq_iterations) +
                    " iterations max)";
    r.num_params = static_cast<long long>(deq.parameters().size());
    const TrainingSummary s = Train(deq, false, o_.deq_steps, "dust-deq");
    r.train_seconds = s.seconds;
    r.report = s.BriefReport();
    r.estimate = Infer(deq, false, r.inference_seconds);
    const DeqForwardSummary fs = deq.last_forward_summary();  // of the whole test set (copied: the probe below overwrites it)
    Index converged = 0;
    for (bool c : fs.solve.converged) converged += c ? 1 : 0;
    const double median = fs.solve.final_residual.size() > 0 ? [&] {
      std::vector<double> v(fs.solve.final_residual.data(), fs.solve.final_residual.data() + fs.solve.final_residual.size());
      std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
      return v[v.size() / 2];
    }() : std::nan("");
    // Spectral radius of df/dz at z* on a few test sequences.
    const Index probe = std::min<Index>(16, d_.test_b.cols());
    Mat z(deq.state_dim(), probe);
    deq.Forward(Mat::Zero(deq.state_dim(), probe), d_.test_b.leftCols(probe), z);
    auto lin = deq.cell().Linearize(z, d_.test_b.leftCols(probe));
    const double radius = DeqModel<Scalar>::EstimateSpectralRadius(*lin, deq.state_dim(), probe, 30, seed_);
    r.extra.Set("test_fraction_converged", static_cast<double>(converged) / static_cast<double>(fs.solve.converged.size()))
        .Set("test_median_relative_residual", median)
        .Set("test_solver_iterations", fs.solve.iterations)
        .Set("spectral_radius_at_fixed_point", radius)
        .Set("forward_report", fs.BriefReport());
    Finish(r);
    std::printf("          DEQ: %lld/%lld test sequences converged (rtol 1e-4), median residual %.2e, spectral radius %.3f\n",
                static_cast<long long>(converged), static_cast<long long>(fs.solve.converged.size()), median, radius);
    return r;
  }

  int Run(const fs::path& out) {
    Prepare();
    std::vector<std::string> names;
    std::stringstream list(o_.models);
    for (std::string item; std::getline(list, item, ',');) {
      if (item != "dust" && item != "dust-a" && item != "causal" && item != "lista" && item != "alista" && item != "fista" && item != "dust-deq") {
        throw Error("--models: unknown model '" + item + "' (expected dust, dust-a, causal, lista, alista, fista, dust-deq)");
      }
      names.push_back(item);
    }
    if (names.empty()) throw Error("--models: empty list");
    std::vector<ModelResult> results;
    for (const std::string& name : names) {
      if (name == "dust") results.push_back(RunDust("dust", SideInformation::kAttention));
      if (name == "dust-a") results.push_back(RunDust("dust-a", SideInformation::kAttention, true));
      if (name == "causal") results.push_back(RunDust("causal", SideInformation::kPreviousFrame));
      if (name == "lista" || name == "alista") results.push_back(RunFrameModel(name));
      if (name == "fista") {
        for (ModelResult& r : RunFista()) results.push_back(std::move(r));
      }
      if (name == "dust-deq") results.push_back(RunDeq());
    }
    Write(out, results);
    return cli::kExitOk;
  }

  void Write(const fs::path& out, const std::vector<ModelResult>& results) const {
    const Index t_len = o_.data.frames, n = o_.data.signal_dim;
    std::vector<std::string> header = {"frame"};
    for (const ModelResult& r : results) header.push_back(r.name);
    CsvTable csv(header);
    std::vector<double> axis;
    for (Index t = 0; t < t_len; ++t) {
      axis.push_back(static_cast<double>(t + 1));
      std::vector<double> row = {static_cast<double>(t + 1)};
      for (const ModelResult& r : results) row.push_back(r.nmse_per_frame[static_cast<size_t>(t)]);
      csv.AddRow(row);
    }
    csv.Save((out / "nmse_per_frame.csv").string());

    std::vector<PlotSeries> series;
    for (const ModelResult& r : results) {
      if (r.name == "fista-500") continue;  // keep the plot about equal depth; the value is in the table
      series.push_back({r.name, axis, r.nmse_per_frame, SeriesStyle::kLineMarkers, ""});
    }
    PlotOptions plot;
    plot.title = "test NMSE per frame (N " + std::to_string(n) + ", M " + std::to_string(o_.measurements) + ", T " +
                 std::to_string(t_len) + ", K " + std::to_string(o_.layers) + ", drift " + FormatNumber(o_.data.drift) + ")";
    plot.x_label = "frame t";
    plot.y_label = "NMSE (dB)";
    SaveSvgPlot((out / "nmse_vs_frame.svg").string(), plot, series);

    // Stem view of test sequence 0: the T frames side by side (index t*N + i).
    std::vector<double> index;
    std::vector<double> truth;
    for (Index i = 0; i < n * t_len; ++i) {
      index.push_back(static_cast<double>(i));
      truth.push_back(d_.test_x(i, 0));
    }
    std::vector<PlotSeries> stems = {{"truth", index, truth, SeriesStyle::kStem, "#000000"}};
    for (const ModelResult& r : results) {
      if (r.name != "dust" && r.name != "lista") continue;
      std::vector<double> est;
      for (Index i = 0; i < n * t_len; ++i) est.push_back(r.estimate(i, 0));
      stems.push_back({r.name, index, est, SeriesStyle::kMarkers, ""});
    }
    PlotOptions sp;
    sp.title = "test sequence 0: frames side by side (entry t*N + i)";
    sp.x_label = "t * N + i";
    sp.y_label = "amplitude";
    sp.width = 1400;
    SaveSvgPlot((out / "sequence_stem.svg").string(), sp, stems);

    std::string table = "| model | NMSE (dB) | params | train (s) | inference (ms / sequence) |\n|---|---|---|---|---|\n";
    JsonObject models;
    for (const ModelResult& r : results) {
      char line[256];
      std::snprintf(line, sizeof(line), "| %s | %.2f | %lld | %.1f | %.3f |\n", r.name.c_str(), r.nmse_db, r.num_params,
                    r.train_seconds, 1e3 * r.inference_seconds / static_cast<double>(d_.test_x.cols()));
      table += line;
      JsonObject m = r.extra;
      m.Set("description", r.description).Set("nmse_db", r.nmse_db).Set("nmse_db_per_frame", r.nmse_per_frame)
          .Set("num_params", r.num_params).Set("train_seconds", r.train_seconds)
          .Set("inference_seconds", r.inference_seconds).Set("training_report", r.report);
      models.Set(r.name, m);
    }
    WriteFileAtomic((out / "table.md").string(), table);
    JsonObject config;
    config.Set("signal_dim", static_cast<long long>(n)).Set("measurements", static_cast<long long>(o_.measurements))
        .Set("frames", static_cast<long long>(t_len)).Set("sparsity", static_cast<long long>(o_.data.sparsity))
        .Set("drift", o_.data.drift).Set("shift", o_.data.shift).Set("rho", o_.data.amplitude_correlation)
        .Set("snr_db", o_.snr_db).Set("layers", static_cast<long long>(o_.layers)).Set("steps", static_cast<long long>(o_.steps))
        .Set("batch", static_cast<long long>(o_.batch)).Set("learning_rate", o_.learning_rate).Set("lambda", o_.lambda)
        .Set("heads", static_cast<long long>(o_.heads)).Set("key_dim", static_cast<long long>(o_.key_dim))
        .Set("deq_steps", static_cast<long long>(o_.deq_steps)).Set("deq_iterations", o_.deq_iterations)
        .Set("signals", o_.signals_path).Set("matrix", o_.matrix_path)
        .Set("test_sequences", static_cast<long long>(d_.test_x.cols())).Set("seed", static_cast<long long>(seed_));
    JsonObject json;
    json.Set("experiment", "sequence_recovery").Set("config", config).Set("models", models);
    auto find = [&](const std::string& name) -> const ModelResult* {
      for (const ModelResult& r : results)
        if (r.name == name) return &r;
      return nullptr;
    };
    const ModelResult* dust = find("dust");
    if (dust != nullptr) {
      JsonObject gains;
      for (const char* other : {"dust-a", "lista", "alista", "causal", "fista-K", "fista-500", "dust-deq"}) {
        if (const ModelResult* r = find(other)) gains.Set(std::string("dust_vs_") + other + "_db", r->nmse_db - dust->nmse_db);
      }
      json.Set("gain_db", gains);
      if (const ModelResult* l = find("lista")) {
        std::printf("dust vs frame-by-frame lista: %.2f dB better\n", l->nmse_db - dust->nmse_db);
      }
      if (const ModelResult* c = find("causal")) std::printf("dust vs causal: %.2f dB better\n", c->nmse_db - dust->nmse_db);
    }
    json.Save((out / "summary.json").string());
    std::printf("results in %s/\n", out.string().c_str());
  }

 private:
  Options o_;
  std::uint64_t seed_;
  bool progress_;
  Data d_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "sequence_recovery";
  Options o;
  cli::CommonOptions common;
  std::string snr_text = "30";
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/sequence_recovery");
  desc.add_options()
      ("n", cli::Default(&o.data.signal_dim), "N, signal size per frame")
      ("measurements", cli::Default(&o.measurements), "M, measurements per frame")
      ("frames", cli::Default(&o.data.frames), "T, frames per sequence")
      ("sparsity", cli::Default(&o.data.sparsity), "k, non-zeros per frame (generator)")
      ("drift", cli::Default(&o.data.drift),
       "per-frame probability that a component is replaced by a new one at a random index (1 = independent frames)")
      ("shift", cli::Default(&o.data.shift), "per-frame probability that a component moves to a neighbouring index")
      ("rho", cli::Default(&o.data.amplitude_correlation), "amplitude correlation between consecutive frames (AR(1))")
      ("snr", cli::Default(&snr_text), "measurement SNR in dB per frame, or inf")
      ("signals", cli::Default(&o.signals_path), "your own sequences: .npy of shape (N, T, S) (default: the generator)")
      ("matrix", cli::Default(&o.matrix_path), "measurement matrix A: .npy of shape (M, N) (default: Gaussian, unit columns)")
      ("test-fraction", cli::Default(&o.test_fraction), "with --signals: leading fraction of the sequences used for testing")
      ("test-sequences", cli::Default(&o.test_sequences), "generated test sequences")
      ("validation-sequences", cli::Default(&o.validation_sequences), "generated validation sequences (FISTA's lambda)")
      ("layers", cli::Default(&o.layers), "K, depth of every unrolled model (and FISTA's short run)")
      ("steps", cli::Default(&o.steps), "Adam steps per trained model (cosine learning-rate decay)")
      ("batch", cli::Default(&o.batch), "sequences per step (frame models see batch * T frames)")
      ("lr", cli::Default(&o.learning_rate), "peak learning rate")
      ("lambda", cli::Default(&o.lambda), "ISTA-style initialisation: thresholds sum to lambda / L")
      ("heads", cli::Default(&o.heads), "attention heads of the DUST layers")
      ("key-dim", cli::Default(&o.key_dim), "query/key size of the DUST layers")
      ("models", cli::Default(&o.models), "comma-separated subset of dust,dust-a,causal,lista,alista,fista,dust-deq")
      ("deq-steps", cli::Default(&o.deq_steps), "training steps of dust-deq")
      ("deq-iterations", cli::Default(&o.deq_iterations), "max Anderson iterations of dust-deq's forward solve")
      ("save-test-signals", cli::Default(&o.save_test_signals),
       "also write the test sequences to this .npy, shape (N, T, S): an example of the --signals format")
      ("quiet", cli::po::bool_switch(&o.quiet), "no progress output");
  if (auto code = cli::Parse(argc, argv, desc, program, "DUST-style unfolded attention vs frame-by-frame LISTA on sparse sequences", common)) {
    return *code;
  }
  return cli::RunExperiment(program, [&] {
    o.snr_db = cli::ParseSnr(snr_text);
    std::string error;
    if (!o.data.IsValid(&error)) throw Error("--n/--frames/--sparsity/--drift/--shift/--rho: " + error);
    cli::Require(o.measurements > 0, "measurements", "must be > 0");
    cli::Require(o.layers > 0, "layers", "must be > 0");
    cli::Require(o.steps > 0 && o.deq_steps >= 0, "steps", "must be > 0 (deq-steps >= 0)");
    cli::Require(o.batch > 0, "batch", "must be > 0");
    cli::Require(o.test_sequences > 0 && o.validation_sequences > 0, "test-sequences", "set sizes must be > 0");
    cli::Require(o.test_fraction > 0 && o.test_fraction < 1, "test-fraction", "must be in (0, 1)");
    cli::Require(o.learning_rate > 0 && std::isfinite(o.learning_rate), "lr", "must be > 0");
    cli::Require(o.lambda >= 0 && std::isfinite(o.lambda), "lambda", "must be >= 0");
    cli::Require(o.heads > 0 && o.key_dim > 0, "heads", "heads and key-dim must be > 0");
    cli::Require(o.deq_iterations > 0, "deq-iterations", "must be > 0");
    const fs::path out = common.output;
    EnsureDirectory(out.string());
    Experiment experiment(o, common.seed, !o.quiet && isatty(STDERR_FILENO));
    return experiment.Run(out);
  });
}
