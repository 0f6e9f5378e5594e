// descent_constrained: trains a descent-constrained unrolled network (Hadou,
// NaderiAlizadeh, Ribeiro, "Robust Stochastically-Descending Unrolled
// Networks", 2023; unfolding/descent_constrained.hpp) and its unconstrained
// twin with the identical recipe (same initialisation, batches, Adam schedule
// and step budget; only the duals differ: they stay 0 for the twin), on the
// sparse-recovery benchmark (A 250 x 500, Bernoulli-Gaussian p = 0.1,
// noiseless by default).
//
//   descent_constrained --model alista --layers 16 --steps 1500 --epsilon 0 --descent-lambda 0.001
//
// The models are LISTA-family networks built by experiments/common/sparse_models
// (default ALISTA: analytic W, per-layer gamma, theta, support selection) and
// are saved as <output>/{constrained,unconstrained}/checkpoint.ckpt in
// sparse_recovery's checkpoint layout, so robustness (and checkpoint_info)
// read them like any other trained model.
//
// Writes per model: checkpoint.ckpt, parameters.npy, training_trace.csv (step, loss, Lagrangian, lr, seconds,
// dual_l and slack_l for l = 1..K; slack_l > 0 means constraint l is violated
// on that batch), duals.svg / slacks.svg, and summary.json (validation NMSE per
// layer, held-out slacks, descent rate, final duals, training time), and the
// per-sample diagnostics validation_objective{,_double}.npy (F of every
// validation sample at every layer, float and double forward) and
// validation_support_size.npy.
#include "core/checkpoint.hpp"
#include "core/data.hpp"
#include "core/interrupt.hpp"
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

using namespace implicit;
namespace fs = std::filesystem;

namespace {

struct Options {
  SparseModelConfig model;
  std::string matrix_path;
  std::string which = "both";  // constrained, unconstrained or both
  double sparsity = 0.1;
  Index batch_size = 64;
  Index validation_samples = 1000;
  DescentConstrainedOptions train;
  bool quiet = false;
  std::string measure = "mapping-norm";
  std::string init_from;  // optional: start BOTH models from this trained checkpoint (same model kind and K)  // descent measure: mapping-norm (||G||) or objective (F)
};

std::string DefaultShared(const std::string& file) {
  const fs::path p = fs::path("..") / "shared" / "data" / "alista" / file;
  return fs::exists(p) ? p.string() : "";
}

using Scalar = float;

int TrainOne(const Options& o, const cli::CommonOptions& common, bool constrained,
             const std::shared_ptr<const MatrixX<Scalar>>& a, double lipschitz, const MatrixX<Scalar>& val_x,
             const MatrixX<Scalar>& val_b, JsonObject& all) {
  const std::string name = constrained ? "constrained" : "unconstrained";
  const fs::path dir = fs::path(common.output) / name;
  EnsureDirectory(dir.string());
  const bool progress = !o.quiet && isatty(STDERR_FILENO);
  const Index n = a->cols(), depth = o.model.layers;
  auto net = BuildSparseModel<Scalar>(o.model, a, lipschitz);
  if (!o.init_from.empty()) {  // identical starting point for the constrained model and its twin
    const LoadedSparseModel<Scalar> source = LoadSparseModel<Scalar>(o.init_from, a, lipschitz);
    if (source.config.model != o.model.model || source.config.layers != depth ||
        source.net->parameters().size() != net->parameters().size()) {
      throw Error(o.init_from + ": holds a '" + source.config.model + "' model with " +
                  std::to_string(source.config.layers) + " layers; --init-from needs a '" + o.model.model + "' with " +
                  std::to_string(depth));
    }
    net->parameters().Flat() = source.net->parameters().Flat();
  }
  // Same batches for both models: the batch stream restarts from the seed.
  Rng batch_rng(common.seed + 3);
  BatchSource<Scalar> source = [&](std::int64_t, MatrixX<Scalar>& inputs, MatrixX<Scalar>& targets) {
    targets = BernoulliGaussian<Scalar>(n, o.batch_size, o.sparsity, batch_rng);
    inputs = *a * targets;
  };
  DescentConstrainedOptions to = o.train;
  to.constrained = constrained;
  to.lipschitz = lipschitz;
  to.noise_seed = common.seed + 4;
  DescentConstrainedCallbacks callbacks;
  callbacks.on_record = [&](const DescentConstrainedRecord& r) {
    if (!progress) return;
    std::fprintf(stderr, "\r  %s: step %6lld/%lld  loss %.3e  max slack %+.3e  max dual %.3e  %6.1fs ", name.c_str(),
                 static_cast<long long>(r.step), static_cast<long long>(to.steps), r.loss, r.slacks.maxCoeff(),
                 r.duals.maxCoeff(), r.seconds);
  };
  callbacks.should_stop = [] { return InterruptRequested(); };
  const DescentConstrainedSummary s = TrainDescentConstrained<Scalar>(*net, *a, source, to, callbacks);
  if (progress) std::fprintf(stderr, "\n");
  std::printf("%s: %s\n", name.c_str(), s.BriefReport().c_str());

  // Training trace: duals and slacks per recorded step.
  std::vector<std::string> header{"step", "loss", "lagrangian", "learning_rate", "seconds"};
  for (Index l = 1; l <= depth; ++l) header.push_back("dual_" + std::to_string(l));
  for (Index l = 1; l <= depth; ++l) header.push_back("slack_" + std::to_string(l));
  CsvTable trace(header);
  std::vector<double> steps_axis;
  std::vector<std::vector<double>> dual_series(static_cast<size_t>(depth)), slack_series(static_cast<size_t>(depth));
  for (const DescentConstrainedRecord& r : s.records) {
    std::vector<double> row{static_cast<double>(r.step), r.loss, r.lagrangian, r.learning_rate, r.seconds};
    for (Index l = 0; l < depth; ++l) row.push_back(r.duals(l));
    for (Index l = 0; l < depth; ++l) row.push_back(r.slacks(l));
    trace.AddRow(row);
    steps_axis.push_back(static_cast<double>(r.step));
    for (Index l = 0; l < depth; ++l) {
      dual_series[static_cast<size_t>(l)].push_back(r.duals(l));
      slack_series[static_cast<size_t>(l)].push_back(r.slacks(l));
    }
  }
  trace.Save((dir / "training_trace.csv").string());
  if (!steps_axis.empty()) {
    std::vector<PlotSeries> duals_plot, slacks_plot;
    for (Index l = 0; l < depth; ++l) {
      const std::string label = (l == 0 || l == depth - 1 || (l + 1) % 4 == 0) ? "layer " + std::to_string(l + 1) : "";
      duals_plot.push_back({label, steps_axis, dual_series[static_cast<size_t>(l)], SeriesStyle::kLine, ""});
      slacks_plot.push_back({label, steps_axis, slack_series[static_cast<size_t>(l)], SeriesStyle::kLine, ""});
    }
    PlotOptions po;
    po.title = name + ": dual variables per layer";
    po.x_label = "step";
    po.y_label = "mu_l";
    SaveSvgPlot((dir / "duals.svg").string(), po, duals_plot);
    po.title = name + ": constraint slack per layer (batch; > 0 = violated)";
    po.y_label = "mean ||G(x_l)|| - (1 - eps) mean ||G(x_l-1)||";
    SaveSvgPlot((dir / "slacks.svg").string(), po, slacks_plot);
  }

  // Held-out evaluation on the validation set.
  const std::vector<MatrixX<Scalar>> iterates = NetworkIterates<Scalar>(*net, val_b);
  const DescentEvaluation d =
      EvaluateDescent<Scalar>(*a, val_b, iterates, to.lambda, lipschitz, to.epsilon);
  std::vector<double> nmse;
  for (size_t l = 1; l < iterates.size(); ++l) {
    nmse.push_back(iterates[l].allFinite() ? NmseDb<Scalar>(iterates[l].topRows(n), val_x)
                                           : std::numeric_limits<double>::infinity());
  }
  // The same trained parameters run in double: separates descent failures of
  // the learned map from float rounding once an iterate has converged (F then
  // changes by ~1e-7 relative from one layer to the next in either direction).
  const auto a_double = std::make_shared<const Eigen::MatrixXd>(a->cast<double>());
  auto net_double = BuildSparseModel<double>(o.model, a_double, lipschitz);
  net_double->parameters().Flat() = net->parameters().Flat().cast<double>();
  const Eigen::MatrixXd val_b_double = val_b.cast<double>();
  const DescentEvaluation d_double = EvaluateDescent<double>(
      *a_double, val_b_double, NetworkIterates<double>(*net_double, val_b_double), to.lambda, lipschitz, to.epsilon);
  WriteNpy<double>((dir / "validation_objective.npy").string(), d.sample_objective);
  WriteNpy<double>((dir / "validation_objective_double.npy").string(), d_double.sample_objective);
  // Support size of each validation signal: descent failures are rare events;
  // this shows whether they sit on the hardest (densest) signals.
  const Eigen::MatrixXd support_size = (val_x.array() != Scalar(0)).cast<double>().colwise().sum().transpose().matrix();
  WriteNpy<double>((dir / "validation_support_size.npy").string(), support_size);
  std::printf("%s: validation NMSE at layer %lld %.2f dB, descent rate %.3f (same parameters run in double: %.3f), "
              "per-sample constraint rate %.3f, max held-out slack %+.3e\n",
              name.c_str(), static_cast<long long>(depth), nmse.back(), d.descent_rate, d_double.descent_rate,
              d.per_sample_constraint_rate, d.slacks.maxCoeff());

  Checkpoint<Scalar> c;
  c.model_kind = o.model.model;
  c.config = {{"model", o.model.model},
              {"layers", std::to_string(o.model.layers)},
              {"matrix", o.matrix_path},
              {"snr_db", "inf"},
              {"sparsity", FormatNumber(o.sparsity)},
              {"schedule", constrained ? "descent-constrained" : "unconstrained-twin"},
              {"lambda", FormatNumber(o.model.lambda)},
              {"support_p", FormatNumber(o.model.support_p)},
              {"support_p_max", FormatNumber(o.model.support_p_max)},
              {"learning_rate", FormatNumber(to.learning_rate)},
              {"batch_size", std::to_string(o.batch_size)},
              {"steps", std::to_string(to.steps)},
              {"epsilon", FormatNumber(to.epsilon)},
              {"descent_lambda", FormatNumber(to.lambda)},
              {"dual_learning_rate", FormatNumber(to.dual_learning_rate)},
              {"noise_std", FormatNumber(to.noise_std)},
              {"constraint_form", to.form.per_sample_hinge ? "hinge tau=" + FormatNumber(to.form.hinge_tolerance) : "expectation"},
              {"descent_measure", o.measure},
              {"init_from", o.init_from},
              {"seed", std::to_string(common.seed)}};
  CaptureParameters(net->parameters(), c);
  c.integers = {{"total_steps", s.steps},
                {"done", s.termination == DescentConstrainedSummary::Termination::kCompleted ? 1 : 0}};
  c.reals = {{"seconds", s.seconds}, {"validation_nmse_db", nmse.back()}, {"descent_rate", d.descent_rate}};
  c.vectors = {{"duals", s.duals}, {"final_batch_slacks", s.slacks.size() > 0 ? s.slacks : Eigen::VectorXd()}};
  SaveCheckpoint((dir / "checkpoint.ckpt").string(), c);
  // The flat parameter vector (layer by layer; for alista / slista: gamma_l, theta_l).
  WriteNpy<Scalar>((dir / "parameters.npy").string(),
                   Eigen::Map<const MatrixX<Scalar>>(net->parameters().Flat().data(), net->parameters().size(), 1));

  const auto to_vector = [](const Eigen::VectorXd& v) { return std::vector<double>(v.data(), v.data() + v.size()); };
  JsonObject json;
  json.Set("model", o.model.model).Set("constrained", constrained).Set("training_report", s.BriefReport())
      .Set("train_seconds", s.seconds).Set("steps", static_cast<long long>(s.steps))
      .Set("validation_nmse_db_per_layer", nmse).Set("validation_nmse_db", nmse.back())
      .Set("validation_descent_rate", d.descent_rate).Set("validation_descent_rate_double", d_double.descent_rate).Set("validation_layer_descent_rate", to_vector(d.layer_descent_rate)).Set("validation_constraint_rate", d.per_sample_constraint_rate)
      .Set("validation_slacks", to_vector(d.slacks)).Set("validation_mapping_norm", to_vector(d.mapping_norm))
      .Set("validation_objective", to_vector(d.objective)).Set("final_duals", to_vector(s.duals));
  json.Save((dir / "summary.json").string());
  all.Set(name, json);
  if (s.termination == DescentConstrainedSummary::Termination::kStopped) return 130;
  if (s.termination == DescentConstrainedSummary::Termination::kDiverged) return cli::kExitFailure;
  return cli::kExitOk;
}

int Run(const Options& o, const cli::CommonOptions& common) {
  EnsureDirectory(common.output);
  cli::Require(!o.matrix_path.empty(), "matrix", "no matrix given and ../shared/data/alista/A_m250_n500.npy not found");
  auto a = std::make_shared<const MatrixX<Scalar>>(ReadNpyMatrix<Scalar>(o.matrix_path));
  RequireFinite(*a, o.matrix_path);
  const double lipschitz = EstimateLipschitz<Scalar>(*a);
  Rng validation_rng(common.seed + 2);
  const MatrixX<Scalar> val_x = BernoulliGaussian<Scalar>(a->cols(), o.validation_samples, o.sparsity, validation_rng);
  const MatrixX<Scalar> val_b = *a * val_x;
  std::printf("descent_constrained: %s, K = %lld, A %lldx%lld, %lld steps of batch %lld, eps %g, descent lambda %g, "
              "noise %g, %s constraints on %s\n",
              o.model.model.c_str(), static_cast<long long>(o.model.layers), static_cast<long long>(a->rows()),
              static_cast<long long>(a->cols()), static_cast<long long>(o.train.steps),
              static_cast<long long>(o.batch_size), o.train.epsilon, o.train.lambda, o.train.noise_std,
              o.train.form.per_sample_hinge ? "per-sample hinge" : "expectation",
              o.measure.c_str());
  InstallInterruptHandler();
  JsonObject all;
  all.Set("experiment", "descent_constrained").Set("seed", static_cast<long long>(common.seed));
  int code = cli::kExitOk;
  for (const bool constrained : {true, false}) {
    if (o.which == "constrained" && !constrained) continue;
    if (o.which == "unconstrained" && constrained) continue;
    code = TrainOne(o, common, constrained, a, lipschitz, val_x, val_b, all);
    // One process may train one model (--which) while another trains the
    // other into the same folder: each then writes its own top-level file.
    all.Save((fs::path(common.output) / (o.which == "both" ? "summary.json" : "summary_" + o.which + ".json")).string());
    if (code != cli::kExitOk) return code;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "descent_constrained";
  Options o;
  o.matrix_path = DefaultShared("A_m250_n500.npy");
  o.train.steps = 1500;
  o.train.learning_rate = 2e-3;
  o.train.min_learning_rate = 2e-5;
  o.train.lambda = 0.001;  // see docs/ROBUSTNESS.md: the LASSO bias floor must lie below the networks' accuracy
  o.train.epsilon = 0.0;  // the documented recipe (docs/ROBUSTNESS.md)
  cli::CommonOptions common;
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/descent_constrained");
  desc.add_options()
      ("model", cli::Default(&o.model.model), "LISTA-family model to train (alista, slista, lista-cp, lista-cpss, tilista, lista, lista-ss)")
      ("layers", cli::Default(&o.model.layers), "K")
      ("matrix", cli::Default(&o.matrix_path), "A (.npy; default the shared 250x500 benchmark matrix)")
      ("which", cli::Default(&o.which), "constrained, unconstrained or both (the twin, same recipe)")
      ("sparsity", cli::Default(&o.sparsity), "Bernoulli-Gaussian p of the training signals")
      ("lambda", cli::Default(&o.model.lambda), "ISTA-style initialisation (theta = lambda / L)")
      ("support-p", cli::Default(&o.model.support_p), "support selection: percent added per layer")
      ("support-p-max", cli::Default(&o.model.support_p_max), "support selection: maximum percent")
      ("steps", cli::Default(&o.train.steps), "Adam steps (one dual step after each)")
      ("batch-size", cli::Default(&o.batch_size), "fresh training samples per step")
      ("validation-samples", cli::Default(&o.validation_samples), "held-out samples for the final check")
      ("lr", cli::Default(&o.train.learning_rate), "Adam peak learning rate (cosine decay)")
      ("min-lr", cli::Default(&o.train.min_learning_rate), "learning rate at the last step")
      ("epsilon", cli::Default(&o.train.epsilon), "required relative decrease of ||G|| per layer")
      ("descent-lambda", cli::Default(&o.train.lambda), "lambda of the LASSO whose prox-gradient mapping G is constrained")
      ("dual-lr", cli::Default(&o.train.dual_learning_rate), "step of the projected dual ascent")
      ("initial-dual", cli::Default(&o.train.initial_dual), "mu_l at step 0")
      ("noise-std", cli::Default(&o.train.noise_std), "std of the noise injected between layers in training (0 = off)")
      ("clip-norm", cli::Default(&o.train.clip_norm), "primal gradient-norm clipping (0 = off)")
      ("hinge", cli::po::bool_switch(&o.train.form.per_sample_hinge),
       "per-sample hinge constraints (mean violation <= tau * mean ||G(x_l-1)||) instead of the paper's expectation")
      ("hinge-tolerance", cli::Default(&o.train.form.hinge_tolerance), "tau of --hinge")
      ("descent-measure", cli::Default(&o.measure),
       "constrained measure: mapping-norm (||G||, the default), objective (F) or log-objective (log F; both this project's variants)")
      ("init-from", cli::Default(&o.init_from), "start both models from this trained checkpoint (same --model and --layers)")
      ("record-every", cli::Default(&o.train.record_every), "steps between rows of training_trace.csv")
      ("quiet", cli::po::bool_switch(&o.quiet), "no progress output");
  if (auto code = cli::Parse(argc, argv, desc, program, "descent-constrained training of an unrolled network and its unconstrained twin", common)) {
    return *code;
  }
  return cli::RunExperiment(program, [&] {
    if (o.matrix_path == "none") o.matrix_path.clear();
    cli::Require(IsLearnedSparseModel(o.model.model) && o.model.model != "admm", "model",
                 "must be one of alista, slista, lista-cp, lista-cpss, tilista, lista, lista-ss (got '" + o.model.model + "')");
    cli::Require(o.model.layers > 0, "layers", "must be > 0");
    cli::Require(o.which == "constrained" || o.which == "unconstrained" || o.which == "both", "which",
                 "must be constrained, unconstrained or both");
    cli::Require(o.sparsity > 0 && o.sparsity <= 1, "sparsity", "must be in (0, 1]");
    cli::Require(o.batch_size > 0, "batch-size", "must be > 0");
    cli::Require(o.validation_samples > 0, "validation-samples", "must be > 0");
    cli::Require(o.train.epsilon >= 0 && o.train.epsilon < 1, "epsilon", "must be in [0, 1)");
    cli::Require(o.train.lambda >= 0 && std::isfinite(o.train.lambda), "descent-lambda", "must be finite and >= 0");
    cli::Require(o.train.dual_learning_rate >= 0, "dual-lr", "must be >= 0");
    cli::Require(o.train.noise_std >= 0, "noise-std", "must be >= 0");
    cli::Require(o.train.steps >= 0, "steps", "must be >= 0");
    cli::Require(o.train.learning_rate > 0 && o.train.min_learning_rate >= 0 &&
                     o.train.min_learning_rate <= o.train.learning_rate,
                 "lr", "need --lr > 0 and 0 <= --min-lr <= --lr");
    cli::Require(o.measure == "mapping-norm" || o.measure == "objective" || o.measure == "log-objective",
                 "descent-measure", "must be mapping-norm, objective or log-objective (got '" + o.measure + "')");
    o.train.form.measure = o.measure == "objective"       ? DescentMeasure::kObjective
                           : o.measure == "log-objective" ? DescentMeasure::kLogObjective
                                                          : DescentMeasure::kMappingNorm;
    std::string error;
    o.train.lipschitz = 0.0;
    cli::Require(o.train.IsValid(&error), "record-every", "invalid training options: " + error);
    return Run(o, common);
  });
}
