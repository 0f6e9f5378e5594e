// lista_pulses: the seed article's LISTA experiment, then a generalisation
// check it could not show.
//
// Seed set-up: N = 100, M = 50, x has 5 pulses (random positions, N(0,1)
// amplitudes), A = randn(M, N) (not normalised), b = A x + 0.05 n. LISTA with
// 5 untied layers x_{k+1} = soft(W1_k b + W2_k x_k, theta_k), W1, W2 ~ 0.1 randn,
// theta = 0.01 (per coordinate), x_0 = 0; Adam lr 0.01, MSE loss, 200 epochs on
// that one sample.
//
// Beyond the article: the trained network is also evaluated on held-out
// signals from the same distribution, beside ISTA and FISTA run for the same
// number of iterations, and --train-samples N trains on N random signals
// (minibatches, epochs over the set) so the held-out figure means something.
#include "core/data.hpp"
#include "core/metrics.hpp"
#include "core/npy.hpp"
#include "core/plot.hpp"
#include "core/results.hpp"
#include "experiments/common/cli.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/lista.hpp"
#include "unfolding/trainer.hpp"
#include "unfolding/unrolled_network.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numeric>

using namespace implicit;
using Scalar = float;  // training default; the gradient checks run in double
using Matrix = MatrixX<Scalar>;

namespace {

struct Options {
  Index signal_dim = 100;
  Index measurement_dim = 50;
  Index pulses = 5;
  double noise_std = 0.05;
  Index layers = 5;
  std::int64_t epochs = 200;
  double learning_rate = 0.01;
  Index train_samples = 0;  // 0 = the seed article: one sample
  Index batch_size = 64;
  Index test_samples = 1000;
  double lambda = 0.1;      // ISTA/FISTA baseline
  std::string init = "seed";  // "seed": 0.1 randn / 0.01; "ista": W1 = A^T/L, W2 = I - A^T A/L, theta = lambda/L
  std::int64_t log_every = 20;
};

struct Problem {
  Matrix a;       // M x N
  Matrix x;       // N x S  signals
  Matrix b;       // M x S  measurements
};

Problem MakeProblem(const Matrix& a, Index samples, const Options& o, Rng& rng) {
  Problem p{a, Pulses<Scalar>(o.signal_dim, samples, o.pulses, rng), Matrix()};
  p.b.noalias() = a * p.x;
  AddGaussianNoise<Scalar>(p.b, o.noise_std, rng);
  return p;
}

std::vector<double> NmsePerIteration(const Matrix& a, const Problem& p, LassoSolverOptions::Method method,
                                     double lambda, Index iterations) {
  LassoSolverOptions options;
  options.method = method;
  options.lambda = lambda;
  options.max_iterations = static_cast<int>(iterations);
  std::vector<double> nmse;
  Matrix x = Matrix::Zero(a.cols(), p.b.cols());
  SolveLasso<Scalar>(a, p.b, options, x,
                     [&](int, ConstMatRef<Scalar> xk) { nmse.push_back(NmseDb<Scalar>(xk, p.x)); });
  return nmse;
}

std::vector<double> NmsePerLayer(const UnrolledNetwork<Scalar>& net, const Problem& p) {
  std::vector<Matrix> outputs;
  net.ForwardAllLayers(Matrix::Zero(net.state_dim(), p.b.cols()), p.b, outputs);
  std::vector<double> nmse;
  for (const Matrix& out : outputs) nmse.push_back(NmseDb<Scalar>(out, p.x));
  return nmse;
}

int Run(const Options& o, const cli::CommonOptions& common) {
  cli::Require(o.signal_dim > 0, "signal-dim", "must be > 0");
  cli::Require(o.measurement_dim > 0, "measurements", "must be > 0");
  cli::Require(o.pulses > 0 && o.pulses <= o.signal_dim, "pulses", "must be in [1, signal-dim]");
  cli::Require(o.noise_std >= 0.0, "noise-std", "must be >= 0");
  cli::Require(o.layers > 0, "layers", "must be > 0");
  cli::Require(o.epochs >= 0, "epochs", "must be >= 0");
  cli::Require(o.learning_rate > 0.0, "lr", "must be > 0");
  cli::Require(o.train_samples >= 0, "train-samples", "must be >= 0");
  cli::Require(o.batch_size > 0, "batch-size", "must be > 0");
  cli::Require(o.test_samples > 0, "test-samples", "must be > 0");
  cli::Require(o.lambda >= 0.0, "lambda", "must be >= 0");
  cli::Require(o.init == "seed" || o.init == "ista", "init", "must be seed or ista");
  EnsureDirectory(common.output);
  const std::filesystem::path out(common.output);

  // Independent, seed-derived streams: changing one part (e.g. the test set
  // size) does not change the others' draws.
  Rng matrix_rng(common.seed), train_rng(common.seed + 1), init_rng(common.seed + 2),
      test_rng(common.seed + 3);
  const Matrix a = StandardGaussianMatrix<Scalar>(o.measurement_dim, o.signal_dim, matrix_rng);
  const bool seed_mode = o.train_samples == 0;
  const Problem train = MakeProblem(a, seed_mode ? 1 : o.train_samples, o, train_rng);
  const Problem test = MakeProblem(a, o.test_samples, o, test_rng);

  const double lipschitz = EstimateLipschitz<Scalar>(a);
  std::vector<std::unique_ptr<Operator<Scalar>>> layers;
  for (Index k = 0; k < o.layers; ++k) {
    auto layer = std::make_unique<ListaLayer<Scalar>>(ListaLayerConfig{o.signal_dim, o.measurement_dim, true});
    if (o.init == "seed") {
      layer->InitializeRandom(init_rng, 0.1, 0.01);
    } else {
      layer->InitializeFromIsta(a, lipschitz, o.lambda);
    }
    layers.push_back(std::move(layer));
  }
  UnrolledNetwork<Scalar> net(std::move(layers));

  // Minibatches: epochs over a shuffled training set (one sample in seed mode).
  const Index train_size = train.x.cols();
  const Index batch = std::min(o.batch_size, train_size);
  const std::int64_t steps_per_epoch = (train_size + batch - 1) / batch;
  std::vector<Index> order(static_cast<size_t>(train_size));
  std::iota(order.begin(), order.end(), 0);
  Rng shuffle_rng(common.seed + 4);
  BatchSource<Scalar> source = [&](std::int64_t step, Matrix& inputs, Matrix& targets) {
    const std::int64_t in_epoch = step % steps_per_epoch;
    if (in_epoch == 0 && train_size > 1) std::shuffle(order.begin(), order.end(), shuffle_rng);
    const Index begin = in_epoch * batch;
    const Index count = std::min(batch, train_size - begin);
    inputs.resize(o.measurement_dim, count);
    targets.resize(o.signal_dim, count);
    for (Index j = 0; j < count; ++j) {
      const Index s = order[static_cast<size_t>(begin + j)];
      inputs.col(j) = train.b.col(s);
      targets.col(j) = train.x.col(s);
    }
  };

  TrainerOptions trainer;
  trainer.steps = o.epochs * steps_per_epoch;
  trainer.optimizer = "adam";
  trainer.schedule.base = o.learning_rate;
  trainer.loss = LossKind::kMse;
  trainer.log_every = std::max<std::int64_t>(1, o.log_every * steps_per_epoch);
  std::cout << "lista_pulses: N=" << o.signal_dim << " M=" << o.measurement_dim << " pulses=" << o.pulses
            << " layers=" << o.layers << " parameters=" << net.parameters().size() << "\n"
            << (seed_mode ? "training on ONE sample (the seed article's set-up)"
                          : "training on " + std::to_string(train_size) + " samples, batch " +
                                std::to_string(batch))
            << ", " << o.epochs << " epochs (" << trainer.steps << " Adam steps, lr " << o.learning_rate
            << ")\n";
  const TrainingSummary summary = TrainSupervised<Scalar>(
      net, source, trainer, [&](const TrainingProgress& p) {
        std::printf("  epoch %6lld  loss %.6e  |grad| %.3e  %.2fs\n",
                    static_cast<long long>(p.step / steps_per_epoch), p.loss, p.grad_norm, p.seconds);
        std::fflush(stdout);
      });
  std::cout << summary.BriefReport() << "\n";

  // Evaluation: the training set (the one sample in seed mode) and held-out signals.
  const std::vector<double> lista_train = NmsePerLayer(net, train);
  const std::vector<double> lista_test = NmsePerLayer(net, test);
  const std::vector<double> ista_test = NmsePerIteration(a, test, LassoSolverOptions::Method::kIsta, o.lambda, o.layers);
  const std::vector<double> fista_test = NmsePerIteration(a, test, LassoSolverOptions::Method::kFista, o.lambda, o.layers);
  const std::vector<double> ista_train = NmsePerIteration(a, train, LassoSolverOptions::Method::kIsta, o.lambda, o.layers);
  Matrix recovered(o.signal_dim, train_size);
  net.Forward(Matrix::Zero(o.signal_dim, train_size), train.b, recovered);
  const SupportRecovery support = SupportRecoveryScores<Scalar>(recovered, train.x, 1e-3);

  // Files: CSVs, summary.json, plots, the trained parameters.
  CsvTable loss_csv({"step", "loss"});
  for (size_t i = 0; i < summary.loss_history.size(); ++i) {
    loss_csv.AddRow(std::vector<double>{static_cast<double>(i + 1), summary.loss_history[i]});
  }
  loss_csv.Save((out / "loss.csv").string());
  CsvTable layer_csv({"layer", "lista_train_nmse_db", "lista_test_nmse_db", "ista_train_nmse_db",
                      "ista_test_nmse_db", "fista_test_nmse_db"});
  for (Index k = 0; k < o.layers; ++k) {
    const auto i = static_cast<size_t>(k);
    layer_csv.AddRow(std::vector<double>{static_cast<double>(k + 1), lista_train[i], lista_test[i],
                                         ista_train[i], ista_test[i], fista_test[i]});
  }
  layer_csv.Save((out / "nmse_per_layer.csv").string());
  CsvTable signal_csv({"index", "true", "recovered"});
  std::vector<double> index(static_cast<size_t>(o.signal_dim)), truth(index.size()), estimate(index.size());
  for (Index i = 0; i < o.signal_dim; ++i) {
    index[static_cast<size_t>(i)] = static_cast<double>(i);
    truth[static_cast<size_t>(i)] = train.x(i, 0);
    estimate[static_cast<size_t>(i)] = recovered(i, 0);
    signal_csv.AddRow(std::vector<double>{static_cast<double>(i), train.x(i, 0), recovered(i, 0)});
  }
  signal_csv.Save((out / "signal.csv").string());

  PlotOptions stem;
  stem.title = "LISTA (" + std::to_string(o.layers) + " layers): true vs recovered, training sample 0";
  stem.x_label = "index";
  stem.y_label = "amplitude";
  SaveSvgPlot((out / "stem.svg").string(), stem,
              {{"true", index, truth, SeriesStyle::kStem, ""},
               {"recovered", index, estimate, SeriesStyle::kStem, ""}});
  std::vector<double> layer_axis(static_cast<size_t>(o.layers));
  std::iota(layer_axis.begin(), layer_axis.end(), 1.0);
  PlotOptions curve;
  curve.title = "NMSE vs layer / iteration";
  curve.x_label = "layer (LISTA) or iteration (ISTA, FISTA)";
  curve.y_label = "NMSE (dB)";
  SaveSvgPlot((out / "nmse_vs_layer.svg").string(), curve,
              {{"LISTA, training set", layer_axis, lista_train, SeriesStyle::kLineMarkers, ""},
               {"LISTA, held-out", layer_axis, lista_test, SeriesStyle::kLineMarkers, ""},
               {"ISTA, held-out", layer_axis, ista_test, SeriesStyle::kLineMarkers, ""},
               {"FISTA, held-out", layer_axis, fista_test, SeriesStyle::kLineMarkers, ""}});
  WriteNpy<Scalar>((out / "parameters.npy").string(), Eigen::Map<const Matrix>(
      net.parameters().Flat().data(), net.parameters().size(), 1));

  JsonObject config;
  config.Set("signal_dim", static_cast<long long>(o.signal_dim))
      .Set("measurement_dim", static_cast<long long>(o.measurement_dim))
      .Set("pulses", static_cast<long long>(o.pulses))
      .Set("noise_std", o.noise_std)
      .Set("layers", static_cast<long long>(o.layers))
      .Set("epochs", static_cast<long long>(o.epochs))
      .Set("learning_rate", o.learning_rate)
      .Set("train_samples", static_cast<long long>(train_size))
      .Set("batch_size", static_cast<long long>(batch))
      .Set("test_samples", static_cast<long long>(o.test_samples))
      .Set("baseline_lambda", o.lambda)
      .Set("init", o.init)
      .Set("seed", static_cast<long long>(common.seed));
  JsonObject json;
  json.Set("experiment", "lista_pulses")
      .Set("config", config)
      .Set("termination", summary.termination == TrainingSummary::Termination::kCompleted ? "completed" : "diverged")
      .Set("final_loss", summary.final_loss)
      .Set("train_nmse_db", lista_train.back())
      .Set("test_nmse_db", lista_test.back())
      .Set("ista_test_nmse_db", ista_test.back())
      .Set("fista_test_nmse_db", fista_test.back())
      .Set("ista_train_nmse_db", ista_train.back())
      .Set("support_precision", support.precision)
      .Set("support_recall", support.recall)
      .Set("training_seconds", summary.seconds)
      .Set("lista_test_nmse_db_per_layer", lista_test);
  json.Save((out / "summary.json").string());

  std::printf("final loss %.6e\n", summary.final_loss);
  std::printf("NMSE on the training %s: LISTA %.2f dB (ISTA, %lld it.: %.2f dB)\n",
              seed_mode ? "sample" : "set", lista_train.back(), static_cast<long long>(o.layers),
              ista_train.back());
  std::printf("NMSE on %lld held-out signals: LISTA %.2f dB, ISTA %.2f dB, FISTA %.2f dB (%lld iterations, lambda %.3g)\n",
              static_cast<long long>(o.test_samples), lista_test.back(), ista_test.back(), fista_test.back(),
              static_cast<long long>(o.layers), o.lambda);
  if (seed_mode) {
    std::printf("note: one training sample cannot show generalisation; try --train-samples 20000 --init ista --lr 0.001\n");
  }
  std::cout << "results in " << out.string() << "/ (summary.json, stem.svg, nmse_vs_layer.svg, *.csv)\n";
  return summary.termination == TrainingSummary::Termination::kCompleted ? cli::kExitOk : cli::kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "lista_pulses";
  Options o;
  cli::CommonOptions common;
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/lista_pulses");
  desc.add_options()
      ("signal-dim", cli::Default(&o.signal_dim), "signal length N")
      ("measurements", cli::Default(&o.measurement_dim), "number of measurements M")
      ("pulses", cli::Default(&o.pulses), "non-zeros per signal")
      ("noise-std", cli::Default(&o.noise_std), "std of the additive measurement noise")
      ("layers", cli::Default(&o.layers), "LISTA layers K (and ISTA/FISTA iterations)")
      ("epochs", cli::Default(&o.epochs), "passes over the training set")
      ("lr", cli::Default(&o.learning_rate), "Adam learning rate")
      ("train-samples", cli::Default(&o.train_samples),
       "training signals; 0 = the seed article's single sample")
      ("batch-size", cli::Default(&o.batch_size), "minibatch size (with --train-samples)")
      ("test-samples", cli::Default(&o.test_samples), "held-out signals for evaluation")
      ("lambda", cli::Default(&o.lambda), "LASSO weight of the ISTA/FISTA baselines")
      ("init", cli::Default(&o.init),
       "LISTA initialisation: seed (0.1 randn, theta 0.01; the article) or ista (W1 = A^T/L, W2 = I - A^T A/L, theta = lambda/L)")
      ("log-every", cli::Default(&o.log_every), "print progress every N epochs");
  if (auto code = cli::Parse(argc, argv, desc, program,
                             "train LISTA on the seed article's pulse problem and compare with ISTA/FISTA",
                             common)) {
    return *code;
  }
  return cli::RunExperiment(program, [&] { return Run(o, common); });
}
