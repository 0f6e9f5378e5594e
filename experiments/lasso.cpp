// lasso: solve min_x 1/2 ||b - A x||^2 + lambda ||x||_1 for every column of B
// with ISTA or FISTA, from .npy files.
//
//   lasso --matrix A.npy --signals X.npy   [--snr DB]   measurements B = A X (+ noise)
//   lasso --matrix A.npy --measurements B.npy
//
// Writes estimates.npy (n x samples), nmse_per_iteration.csv (when signals are
// given: the papers' NMSE over the whole set after every iteration, plus the
// LASSO objective), summary.json (nmse_db of the final iterate, solver report).
#include "core/data.hpp"
#include "core/metrics.hpp"
#include "core/npy.hpp"
#include "core/plot.hpp"
#include "core/results.hpp"
#include "experiments/common/cli.hpp"
#include "unfolding/ista.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

using namespace implicit;

namespace {

struct Options {
  std::string matrix_path;
  std::string signals_path;
  std::string measurements_path;
  std::string method = "fista";
  double lambda = 0.1;
  int iterations = 100;
  double snr_db = std::nan("");  // NaN = noiseless
  double lipschitz = 0.0;
  std::string precision = "double";
};

template <typename Scalar>
double LassoObjective(const MatrixX<Scalar>& a, const MatrixX<Scalar>& b, ConstMatRef<Scalar> x, double lambda) {
  // Mean over samples of 1/2 ||b - A x||^2 + lambda ||x||_1.
  const MatrixX<Scalar> r = b - a * x;
  const double data = 0.5 * r.template cast<double>().squaredNorm();
  const double l1 = x.template cast<double>().cwiseAbs().sum();
  return (data + lambda * l1) / static_cast<double>(x.cols());
}

template <typename Scalar>
int Run(const Options& o, const cli::CommonOptions& common) {
  cli::Require(!o.matrix_path.empty(), "matrix", "is required");
  cli::Require(o.signals_path.empty() != o.measurements_path.empty(), "signals",
               "give exactly one of --signals and --measurements");
  cli::Require(std::isnan(o.snr_db) || o.measurements_path.empty(), "snr",
               "only applies with --signals (measurements are computed as A X + noise)");
  cli::Require(std::isnan(o.snr_db) || std::isfinite(o.snr_db), "snr", "must be finite");
  cli::Require(o.iterations >= 0, "iterations", "must be >= 0");
  LassoSolverOptions solver;
  solver.method = LassoSolverOptions::ParseMethod(o.method);
  solver.lambda = o.lambda;
  solver.max_iterations = o.iterations;
  solver.lipschitz = o.lipschitz;
  std::string error;
  if (!solver.IsValid(&error)) throw Error("solver options: " + error);

  const MatrixX<Scalar> a = ReadNpyMatrix<Scalar>(o.matrix_path);
  RequireFinite(a, o.matrix_path);
  const bool have_signals = !o.signals_path.empty();
  MatrixX<Scalar> x_true, b;
  if (have_signals) {
    x_true = ReadNpyMatrix<Scalar>(o.signals_path);
    RequireFinite(x_true, o.signals_path);
    if (x_true.rows() != a.cols()) {
      throw Error(o.signals_path + ": signals have " + std::to_string(x_true.rows()) +
                  " rows but the matrix has " + std::to_string(a.cols()) +
                  " columns (one signal per column expected)");
    }
    b.noalias() = a * x_true;
    if (!std::isnan(o.snr_db)) {
      Rng rng(common.seed);
      AddNoiseAtSnr<Scalar>(b, o.snr_db, rng);
    }
  } else {
    b = ReadNpyMatrix<Scalar>(o.measurements_path);
    RequireFinite(b, o.measurements_path);
    if (b.rows() != a.rows()) {
      throw Error(o.measurements_path + ": measurements have " + std::to_string(b.rows()) +
                  " rows but the matrix has " + std::to_string(a.rows()) +
                  " rows (one measurement vector per column expected)");
    }
  }
  EnsureDirectory(common.output);
  const std::filesystem::path out(common.output);
  std::cout << "lasso: " << o.method << ", A " << a.rows() << "x" << a.cols() << ", " << b.cols()
            << " samples, lambda " << o.lambda << ", " << o.iterations << " iterations\n";

  CsvTable per_iteration(have_signals ? std::vector<std::string>{"iteration", "nmse_db", "objective"}
                                      : std::vector<std::string>{"iteration", "objective"});
  std::vector<double> iteration_axis, nmse_curve;
  MatrixX<Scalar> x = MatrixX<Scalar>::Zero(a.cols(), b.cols());
  const int report_every = std::max(1, o.iterations / 10);
  const LassoSolverSummary summary = SolveLasso<Scalar>(a, b, solver, x, [&](int k, ConstMatRef<Scalar> xk) {
    const double objective = LassoObjective<Scalar>(a, b, xk, o.lambda);
    if (have_signals) {
      const double nmse = NmseDb<Scalar>(xk, x_true);
      per_iteration.AddRow(std::vector<double>{static_cast<double>(k), nmse, objective});
      iteration_axis.push_back(k);
      nmse_curve.push_back(nmse);
      if (k % report_every == 0) std::printf("  iteration %6d  NMSE %8.3f dB  objective %.6e\n", k, nmse, objective);
    } else {
      per_iteration.AddRow(std::vector<double>{static_cast<double>(k), objective});
      if (k % report_every == 0) std::printf("  iteration %6d  objective %.6e\n", k, objective);
    }
  });
  std::cout << summary.BriefReport() << "\n";

  WriteNpy<Scalar>((out / "estimates.npy").string(), x);
  per_iteration.Save((out / (have_signals ? "nmse_per_iteration.csv" : "objective_per_iteration.csv")).string());
  JsonObject json;
  json.Set("experiment", "lasso")
      .Set("method", o.method)
      .Set("lambda", o.lambda)
      .Set("iterations", static_cast<long long>(summary.iterations))
      .Set("lipschitz", summary.lipschitz)
      .Set("samples", static_cast<long long>(b.cols()))
      .Set("matrix", o.matrix_path)
      .Set("precision", o.precision)
      .Set("objective", LassoObjective<Scalar>(a, b, x, o.lambda))
      .Set("solver_report", summary.BriefReport());
  if (have_signals) {
    const double nmse = NmseDb<Scalar>(x, x_true);
    json.Set("signals", o.signals_path).Set("nmse_db", nmse);
    if (!std::isnan(o.snr_db)) json.Set("snr_db", o.snr_db);
    std::printf("NMSE of the final iterate: %.3f dB\n", nmse);
    if (!nmse_curve.empty()) {
      PlotOptions plot;
      plot.title = o.method + ", lambda = " + FormatNumber(o.lambda);
      plot.x_label = "iteration";
      plot.y_label = "NMSE (dB)";
      SaveSvgPlot((out / "nmse_vs_iteration.svg").string(), plot,
                  {{o.method, iteration_axis, nmse_curve, SeriesStyle::kLine, ""}});
    }
  } else {
    json.Set("measurements", o.measurements_path);
  }
  json.Save((out / "summary.json").string());
  std::cout << "results in " << out.string() << "/\n";
  return cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "lasso";
  Options o;
  cli::CommonOptions common;
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/lasso");
  desc.add_options()
      ("matrix", cli::po::value(&o.matrix_path), "measurement matrix A (m x n, .npy)")
      ("signals", cli::po::value(&o.signals_path), "true signals X (n x samples, .npy); B = A X")
      ("measurements", cli::po::value(&o.measurements_path), "measurements B (m x samples, .npy)")
      ("snr", cli::po::value(&o.snr_db), "add noise at this SNR in dB per sample (with --signals; default noiseless)")
      ("method", cli::Default(&o.method), "ista or fista")
      ("lambda", cli::Default(&o.lambda), "l1 weight")
      ("iterations", cli::Default(&o.iterations), "iterations")
      ("lipschitz", cli::Default(&o.lipschitz),
       "step 1/L; 0 = 1.001 * ||A||_2^2 by power iteration")
      ("precision", cli::Default(&o.precision), "float or double");
  if (auto code = cli::Parse(argc, argv, desc, program, "solve LASSO problems from .npy files with ISTA/FISTA", common)) {
    return *code;
  }
  return cli::RunExperiment(program, [&] {
    if (o.precision == "float") return Run<float>(o, common);
    cli::Require(o.precision == "double", "precision", "must be float or double");
    return Run<double>(o, common);
  });
}
