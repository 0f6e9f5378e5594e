// robustness: trained unrolled networks vs ISTA / FISTA at the same iteration
// count under distribution shifts (issue 6's out-of-distribution suite).
//
//   robustness --models alista=results/lista_family/snr_inf/alista/checkpoint.ckpt,constrained=results/robustness_train/constrained/checkpoint.ckpt
//
// Every model is a LISTA-family checkpoint (sparse_recovery's, or
// descent_constrained's, same layout) trained on the benchmark problem:
// A 250 x 500 (the shared matrix), x Bernoulli-Gaussian p = 0.1 with N(0, 1)
// non-zeros, noiseless b = A x. Scenarios (each with fresh test signals):
//   in_distribution        the training law
//   sparsity_p             p = 0.15, 0.2, 0.3
//   amplitude_uniform      non-zeros uniform on +-[0.5, 1.5]; amplitude_pm1: +-1
//   snr_<dB>               white noise at SNR 40, 30, 20 dB (core/data AddNoiseAtSnr)
//   perturbation_<r>       b = (A + E) x, E Gaussian with ||E||_F = r ||A||_F,
//                          r = 0.01, 0.05, 0.1; every method (models, ISTA,
//                          FISTA) still uses A: the perturbation is unknown
//   condition_<kappa>      a NEW 250 x 500 Gaussian matrix with condition number
//                          30, 50, 100 (core/data GaussianMeasurementMatrix): it
//                          is known, so ISTA / FISTA use it (and its L), and each
//                          model is rebuilt on it: whatever the model computes
//                          FROM A (the A inside prox-gradient layers, ALISTA's
//                          analytic W, ADMM's factorisation) is recomputed,
//                          learned numbers (W of LISTA-CP, gamma, theta, ...) are
//                          the checkpoint's.
// Metrics per (model, scenario): NMSE (dB, ratio of sums) of the last layer /
// iterate, and the DESCENT RATE: the fraction of test samples for which every
// layer l = 1..K decreases the LASSO objective F(x) = 1/2 ||b - A x||^2 +
// lambda ||x||_1 (x_0 = 0; F(x_l) <= F(x_{l-1}); A = the matrix the methods
// use; lambda = --descent-lambda, see docs/ROBUSTNESS.md for the choice).
// (ISTA is monotone for ITS objective; the baselines run at --baseline-lambda,
// so their rate on F with --descent-lambda is measured, not guaranteed.)
//
// Writes results.csv, table.md, summary.json ({"nmse_db": {model: {scenario:
// dB}}, "descent_rate": {model: {scenario: rate}}, ...}), and per shift family
// nmse_<family>.svg and descent_<family>.svg (metric vs shift strength per model).
#include "core/data.hpp"
#include "core/metrics.hpp"
#include "core/npy.hpp"
#include "core/plot.hpp"
#include "core/results.hpp"
#include "experiments/common/cli.hpp"
#include "experiments/common/sparse_models.hpp"
#include "unfolding/descent_constrained.hpp"
#include "unfolding/ista.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

using namespace implicit;
namespace fs = std::filesystem;

namespace {

using Scalar = float;

struct Options {
  std::string models;  // name=path,name=path
  std::string matrix_path;
  Index test_samples = 1000;
  double descent_lambda = 0.001;  // see docs/ROBUSTNESS.md
  double baseline_lambda = 0.1;
  std::string families = "sparsity,amplitude,noise,perturbation,condition";
  bool quiet = false;
};

std::string DefaultShared(const std::string& file) {
  const fs::path p = fs::path("..") / "shared" / "data" / "alista" / file;
  return fs::exists(p) ? p.string() : "";
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, sep)) parts.push_back(part);
  return parts;
}

enum class Amplitude { kGaussian, kUniform, kPlusMinusOne };

struct Scenario {
  std::string key;      // e.g. "snr_30"
  std::string family;   // in_distribution, sparsity, amplitude, noise, perturbation, condition
  int level = 0;        // 0 = in distribution, 1..3 = increasing shift strength
  std::string label;    // human-readable strength
  double sparsity = 0.1;
  Amplitude amplitude = Amplitude::kGaussian;
  double snr_db = std::numeric_limits<double>::infinity();
  double perturbation = 0.0;
  double condition_number = 0.0;
};

std::vector<Scenario> MakeScenarios(const std::vector<std::string>& families) {
  std::vector<Scenario> s;
  s.push_back({"in_distribution", "in_distribution", 0, "training law"});
  auto wanted = [&](const std::string& f) { return std::find(families.begin(), families.end(), f) != families.end(); };
  if (wanted("sparsity")) {
    int level = 1;
    for (double p : {0.15, 0.2, 0.3}) {
      Scenario c{"sparsity_" + FormatNumber(p), "sparsity", level++, "p = " + FormatNumber(p)};
      c.sparsity = p;
      s.push_back(c);
    }
  }
  if (wanted("amplitude")) {
    Scenario u{"amplitude_uniform", "amplitude", 1, "uniform +-[0.5, 1.5]"};
    u.amplitude = Amplitude::kUniform;
    s.push_back(u);
    Scenario r{"amplitude_pm1", "amplitude", 2, "+-1"};
    r.amplitude = Amplitude::kPlusMinusOne;
    s.push_back(r);
  }
  if (wanted("noise")) {
    int level = 1;
    for (double snr : {40.0, 30.0, 20.0}) {
      Scenario c{"snr_" + FormatNumber(snr), "noise", level++, "SNR " + FormatNumber(snr) + " dB"};
      c.snr_db = snr;
      s.push_back(c);
    }
  }
  if (wanted("perturbation")) {
    int level = 1;
    for (double r : {0.01, 0.05, 0.1}) {
      Scenario c{"perturbation_" + FormatNumber(r), "perturbation", level++,
                 "||E||/||A|| = " + FormatNumber(100 * r) + " %"};
      c.perturbation = r;
      s.push_back(c);
    }
  }
  if (wanted("condition")) {
    int level = 1;
    for (double k : {30.0, 50.0, 100.0}) {
      Scenario c{"condition_" + FormatNumber(k), "condition", level++, "kappa = " + FormatNumber(k)};
      c.condition_number = k;
      s.push_back(c);
    }
  }
  return s;
}

// n x batch Bernoulli(p) support with the scenario's amplitude law. Draw order:
// column by column, row by row; one U[0,1) per entry, then (if in the
// support) one amplitude draw (N(0,1); or U[0.5,1.5) and a sign; or a sign).
MatrixX<Scalar> Signals(Index n, Index batch, const Scenario& s, Rng& rng) {
  if (s.amplitude == Amplitude::kGaussian) return BernoulliGaussian<Scalar>(n, batch, s.sparsity, rng);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  MatrixX<Scalar> x = MatrixX<Scalar>::Zero(n, batch);
  for (Index j = 0; j < batch; ++j) {
    for (Index i = 0; i < n; ++i) {
      if (unit(rng) >= s.sparsity) continue;
      const double magnitude = s.amplitude == Amplitude::kUniform ? 0.5 + unit(rng) : 1.0;
      x(i, j) = static_cast<Scalar>(unit(rng) < 0.5 ? -magnitude : magnitude);
    }
  }
  return x;
}

struct ModelSpec {
  std::string name, path;
};

struct Result {
  double nmse_db = 0.0;
  double descent_rate = 0.0;
};

int Run(const Options& o, const cli::CommonOptions& common) {
  EnsureDirectory(common.output);
  const fs::path out(common.output);
  const bool progress = !o.quiet && isatty(STDERR_FILENO);
  // Models: parse the list and validate every checkpoint file first (fails
  // early with the file's name on a bad path / corrupt file), then load each
  // on A (layout mismatches are reported then).
  std::vector<ModelSpec> specs;
  for (const std::string& item : Split(o.models, ',')) {
    const size_t eq = item.find('=');
    cli::Require(eq != std::string::npos && eq > 0 && eq + 1 < item.size(), "models",
                 "expected name=checkpoint.ckpt[,name=checkpoint.ckpt...], got '" + item + "'");
    const ModelSpec spec{item.substr(0, eq), item.substr(eq + 1)};
    for (const ModelSpec& other : specs) cli::Require(other.name != spec.name, "models", "duplicate name '" + spec.name + "'");
    cli::Require(spec.name != "ista" && spec.name != "fista", "models", "'ista' and 'fista' are the baselines' names");
    specs.push_back(spec);
  }
  cli::Require(!specs.empty(), "models", "give at least one name=checkpoint.ckpt");
  for (const ModelSpec& spec : specs) SparseModelConfigFromPairs(LoadCheckpoint<Scalar>(spec.path).config, spec.path);
  cli::Require(!o.matrix_path.empty(), "matrix", "no matrix given and ../shared/data/alista/A_m250_n500.npy not found");
  auto a = std::make_shared<const MatrixX<Scalar>>(ReadNpyMatrix<Scalar>(o.matrix_path));
  RequireFinite(*a, o.matrix_path);
  const Index m = a->rows(), n = a->cols();
  const double lipschitz = EstimateLipschitz<Scalar>(*a);
  std::map<std::string, std::unique_ptr<UnrolledNetwork<Scalar>>> nominal;
  std::map<std::string, bool> training_complete;
  Index depth = 0;
  for (const ModelSpec& spec : specs) {
    LoadedSparseModel<Scalar> loaded = LoadSparseModel<Scalar>(spec.path, a, lipschitz);
    if (loaded.net->state_dim() < n || loaded.net->input_dim() != m) {
      throw Error(spec.path + ": model dimensions do not match the matrix " + std::to_string(m) + "x" + std::to_string(n));
    }
    if (depth == 0) depth = loaded.config.layers;
    if (loaded.config.layers != depth) {
      throw Error(spec.path + ": " + std::to_string(loaded.config.layers) + " layers, but the first model has " +
                  std::to_string(depth) + " (all models must have the same depth: ISTA/FISTA run that many iterations)");
    }
    // A checkpoint of a run that is still going (or was stopped) is usable
    // but flagged: its training had not finished when it was written.
    bool complete = false;
    for (const auto& [key, value] : loaded.checkpoint.integers) complete = complete || (key == "done" && value != 0);
    training_complete[spec.name] = complete;
    std::printf("model %-14s %-10s K = %lld  (%s, schedule %s%s)\n", spec.name.c_str(), loaded.config.model.c_str(),
                static_cast<long long>(depth), spec.path.c_str(), loaded.ConfigValue("schedule", "?").c_str(),
                complete ? "" : ", TRAINING NOT FINISHED");
    nominal[spec.name] = std::move(loaded.net);
  }
  std::vector<std::string> methods;
  for (const ModelSpec& spec : specs) methods.push_back(spec.name);
  methods.push_back("ista");
  methods.push_back("fista");

  const std::vector<Scenario> scenarios = MakeScenarios(Split(o.families, ','));
  std::map<std::string, std::map<std::string, Result>> results;  // method -> scenario -> result
  CsvTable csv({"scenario", "family", "level", "strength", "method", "nmse_db", "descent_rate"});
  for (size_t si = 0; si < scenarios.size(); ++si) {
    const Scenario& sc = scenarios[si];
    // Per scenario its own streams, so adding a scenario does not change the others.
    Rng data_rng(common.seed * 1000003ULL + 17 * si + 1);
    std::shared_ptr<const MatrixX<Scalar>> solver_a = a;  // what the methods use
    double solver_l = lipschitz;
    MatrixX<Scalar> data_a = *a;                          // what generates b
    if (sc.condition_number > 0) {
      MeasurementMatrixOptions mo;
      mo.condition_number = sc.condition_number;
      solver_a = std::make_shared<const MatrixX<Scalar>>(GaussianMeasurementMatrix<Scalar>(m, n, data_rng, mo));
      solver_l = EstimateLipschitz<Scalar>(*solver_a);
      data_a = *solver_a;
    }
    if (sc.perturbation > 0) {
      MatrixX<Scalar> e = StandardGaussianMatrix<Scalar>(m, n, data_rng);
      e *= static_cast<Scalar>(sc.perturbation * static_cast<double>(a->norm()) / static_cast<double>(e.norm()));
      data_a += e;
    }
    const MatrixX<Scalar> x = Signals(n, o.test_samples, sc, data_rng);
    MatrixX<Scalar> b = data_a * x;
    if (std::isfinite(sc.snr_db)) AddNoiseAtSnr<Scalar>(b, sc.snr_db, data_rng);

    auto record = [&](const std::string& method, const std::vector<MatrixX<Scalar>>& iterates) {
      const MatrixX<Scalar> last = iterates.back().topRows(n);
      Result r;
      r.nmse_db = last.allFinite() ? NmseDb<Scalar>(last, x) : std::numeric_limits<double>::infinity();
      r.descent_rate =
          EvaluateDescent<Scalar>(*solver_a, b, iterates, o.descent_lambda, solver_l, 0.0).descent_rate;
      results[method][sc.key] = r;
      csv.AddRow(std::vector<std::string>{sc.key, sc.family, std::to_string(sc.level), sc.label, method,
                                          FormatNumber(r.nmse_db), FormatNumber(r.descent_rate)});
      if (progress) {
        std::fprintf(stderr, "\r  [%2zu/%zu] %-22s %-14s NMSE %8.2f dB  descent %.3f   ", si + 1, scenarios.size(),
                     sc.key.c_str(), method.c_str(), r.nmse_db, r.descent_rate);
      }
    };
    for (const ModelSpec& spec : specs) {
      if (sc.condition_number > 0) {
        const LoadedSparseModel<Scalar> rebuilt = LoadSparseModel<Scalar>(spec.path, solver_a, solver_l);
        record(spec.name, NetworkIterates<Scalar>(*rebuilt.net, b));
      } else {
        record(spec.name, NetworkIterates<Scalar>(*nominal[spec.name], b));
      }
    }
    for (const bool fista : {false, true}) {
      LassoSolverOptions lo;
      lo.method = fista ? LassoSolverOptions::Method::kFista : LassoSolverOptions::Method::kIsta;
      lo.lambda = o.baseline_lambda;
      lo.lipschitz = solver_l;
      lo.max_iterations = static_cast<int>(depth);
      std::vector<MatrixX<Scalar>> iterates{MatrixX<Scalar>::Zero(n, b.cols())};
      MatrixX<Scalar> xk = iterates.front();
      SolveLasso<Scalar>(*solver_a, b, lo, xk, [&](int, ConstMatRef<Scalar> it) { iterates.emplace_back(it); });
      record(fista ? "fista" : "ista", iterates);
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  csv.Save((out / "results.csv").string());

  // Table (markdown): one row per scenario, NMSE (descent rate) per method.
  std::ostringstream table;
  table << "| scenario |";
  for (const std::string& method : methods) table << " " << method << " |";
  table << "\n|---|";
  for (size_t i = 0; i < methods.size(); ++i) table << "---|";
  table << "\n";
  for (const Scenario& sc : scenarios) {
    table << "| " << sc.key << " |";
    for (const std::string& method : methods) {
      const Result& r = results[method][sc.key];
      char cell[64];
      std::snprintf(cell, sizeof(cell), " %.2f (%.2f) |", r.nmse_db, r.descent_rate);
      table << cell;
    }
    table << "\n";
  }
  const std::string table_text =
      "NMSE at iteration/layer " + std::to_string(depth) + " in dB (descent rate in parentheses; descent lambda " +
      FormatNumber(o.descent_lambda) + ", ISTA/FISTA lambda " + FormatNumber(o.baseline_lambda) + ", " +
      std::to_string(o.test_samples) + " test samples per scenario)\n\n" + table.str();
  WriteFileAtomic((out / "table.md").string(), table_text);
  std::cout << table_text;

  // Plots: per shift family, metric vs strength level (0 = in distribution).
  std::vector<std::string> families;
  for (const Scenario& sc : scenarios) {
    if (sc.family != "in_distribution" && std::find(families.begin(), families.end(), sc.family) == families.end()) {
      families.push_back(sc.family);
    }
  }
  for (const std::string& family : families) {
    std::string levels = "0 = in distribution";
    std::vector<const Scenario*> points{&scenarios.front()};
    for (const Scenario& sc : scenarios) {
      if (sc.family != family) continue;
      points.push_back(&sc);
      levels += ", " + std::to_string(sc.level) + " = " + sc.label;
    }
    for (const bool nmse : {true, false}) {
      std::vector<PlotSeries> series;
      for (const std::string& method : methods) {
        PlotSeries s{method, {}, {}, SeriesStyle::kLineMarkers, ""};
        for (const Scenario* sc : points) {
          const Result& r = results[method][sc->key];
          s.x.push_back(sc->level);
          s.y.push_back(nmse ? std::min(r.nmse_db, 20.0) : r.descent_rate);
        }
        series.push_back(s);
      }
      PlotOptions po;
      po.title = (nmse ? "NMSE at layer " + std::to_string(depth) : std::string("descent rate")) + " under shift: " + family;
      po.x_label = levels;
      po.y_label = nmse ? "test NMSE (dB)" : "fraction of samples descending at every layer";
      SaveSvgPlot((out / ((nmse ? "nmse_" : "descent_") + family + ".svg")).string(), po, series);
    }
  }

  JsonObject nmse_json, descent_json, scenario_json;
  for (const std::string& method : methods) {
    JsonObject nm, dr;
    for (const Scenario& sc : scenarios) {
      nm.Set(sc.key, results[method][sc.key].nmse_db);
      dr.Set(sc.key, results[method][sc.key].descent_rate);
    }
    nmse_json.Set(method, nm);
    descent_json.Set(method, dr);
  }
  for (const Scenario& sc : scenarios) scenario_json.Set(sc.key, sc.label);
  JsonObject models_json;
  JsonObject complete_json;
  for (const ModelSpec& spec : specs) {
    models_json.Set(spec.name, spec.path);
    complete_json.Set(spec.name, training_complete[spec.name]);
  }
  JsonObject json;
  json.Set("experiment", "robustness").Set("layers", static_cast<long long>(depth))
      .Set("test_samples", static_cast<long long>(o.test_samples)).Set("descent_lambda", o.descent_lambda)
      .Set("baseline_lambda", o.baseline_lambda).Set("matrix", o.matrix_path).Set("models", models_json)
      .Set("training_complete", complete_json)
      .Set("scenarios", scenario_json).Set("nmse_db", nmse_json).Set("descent_rate", descent_json)
      .Set("seed", static_cast<long long>(common.seed));
  json.Save((out / "summary.json").string());
  std::printf("results in %s/\n", out.string().c_str());
  return cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "robustness";
  Options o;
  o.matrix_path = DefaultShared("A_m250_n500.npy");
  cli::CommonOptions common;
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/robustness");
  desc.add_options()
      ("models", cli::Default(&o.models), "name=checkpoint.ckpt[,name=checkpoint.ckpt...] (sparse_recovery / descent_constrained checkpoints)")
      ("matrix", cli::Default(&o.matrix_path), "the training matrix A (.npy; default the shared 250x500 benchmark matrix)")
      ("test-samples", cli::Default(&o.test_samples), "test signals per scenario")
      ("descent-lambda", cli::Default(&o.descent_lambda), "lambda of the LASSO objective used for the descent rate")
      ("baseline-lambda", cli::Default(&o.baseline_lambda), "lambda of the ISTA/FISTA baselines")
      ("shifts", cli::Default(&o.families), "comma list of shift families: sparsity, amplitude, noise, perturbation, condition")
      ("quiet", cli::po::bool_switch(&o.quiet), "no progress output");
  if (auto code = cli::Parse(argc, argv, desc, program, "trained unrolled networks vs ISTA/FISTA under distribution shifts", common)) {
    return *code;
  }
  return cli::RunExperiment(program, [&] {
    if (o.matrix_path == "none") o.matrix_path.clear();
    cli::Require(o.test_samples > 0, "test-samples", "must be > 0");
    cli::Require(o.descent_lambda >= 0 && std::isfinite(o.descent_lambda), "descent-lambda", "must be finite and >= 0");
    cli::Require(o.baseline_lambda >= 0 && std::isfinite(o.baseline_lambda), "baseline-lambda", "must be finite and >= 0");
    for (const std::string& f : Split(o.families, ',')) {
      cli::Require(f == "sparsity" || f == "amplitude" || f == "noise" || f == "perturbation" || f == "condition",
                   "shifts", "unknown shift family '" + f + "'");
    }
    return Run(o, common);
  });
}
