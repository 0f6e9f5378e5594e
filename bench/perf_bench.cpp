// perf_bench: this framework's side of the PyTorch comparison (issue 5).
// Each invocation runs ONE workload and prints one line
//   RESULT {"workload": ..., "times": [...], "median_s": ..., "peak_rss_bytes": ..., ...}
// which bench/run_perf.py parses; bench/torch/perf_torch.py is the PyTorch
// twin with the same flags and the same output. Do not call this directly for
// numbers: the runner alternates both sides (A B A B) and takes medians.
//
// Workloads (sizes from the flags, defaults = issue 5's):
//   seed_toy      the seed article's toy: N=100, M=50, 5 layers, 200 Adam epochs on one sample
//   lista_step    untied LISTA, per training step (forward + backward + Adam), MSE loss
//   alista_step   ALISTA (fixed W, learned gamma/theta per layer), per training step
//   infer_lista   Forward only, per call, at --batch
//   infer_alista  Forward only, per call, at --batch
//   deq           DEQ on the prox-gradient (LISTA-CP) cell: Anderson forward + IFT backward + Adam, per step
//   gemm          Eigen float GEMM rate on the LISTA step's product mix and on a square GEMM
//   bandwidth     copy bandwidth (read + write bytes) of a 128 MiB float array
//   crosscheck    float64: one training step from weights/batch in --dir (written by perf_torch.py),
//                 updated parameters written back to --dir as ours_*.npy
#include "core/data.hpp"
#include "core/memory_tracker.hpp"
#include "core/npy.hpp"
#include "deq/deq_model.hpp"
#include "experiments/common/cli.hpp"
#include "unfolding/ista.hpp"
#include "unfolding/lista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/trainer.hpp"
#include "unfolding/unrolled_network.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace implicit;

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct Options {
  std::string workload = "lista_step";
  Index n = 500, m = 250, layers = 16, batch = 64;
  int steps = 20;   // timed repetitions
  int warmup = 3;   // untimed repetitions first
  int deq_iterations = 30;  // forward and adjoint Anderson iterations (tolerance off: fixed work)
  std::string dir;  // crosscheck folder
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

struct Result {
  std::vector<double> times;
  std::vector<std::pair<std::string, double>> extra;
};

void Print(const Options& o, const Result& r, int threads) {
  std::ostringstream s;
  s.precision(9);
  s << "RESULT {\"side\": \"ours\", \"workload\": \"" << o.workload << "\", \"threads\": " << threads
    << ", \"n\": " << o.n << ", \"m\": " << o.m << ", \"layers\": " << o.layers << ", \"batch\": " << o.batch
    << ", \"median_s\": " << Median(r.times) << ", \"peak_rss_bytes\": " << PeakRssBytes() << ", \"times\": [";
  for (size_t i = 0; i < r.times.size(); ++i) s << (i ? ", " : "") << r.times[i];
  s << "]";
  for (const auto& [k, v] : r.extra) s << ", \"" << k << "\": " << v;
  s << "}";
  std::printf("%s\n", s.str().c_str());
}

template <typename Scalar>
std::unique_ptr<UnrolledNetwork<Scalar>> MakeLista(Index n, Index m, Index layers, Rng& rng, double std_w,
                                                   double theta0) {
  std::vector<std::unique_ptr<Operator<Scalar>>> ops;
  for (Index k = 0; k < layers; ++k) {
    auto layer = std::make_unique<ListaLayer<Scalar>>(ListaLayerConfig{n, m, true});
    layer->InitializeRandom(rng, std_w, theta0);
    ops.push_back(std::move(layer));
  }
  return std::make_unique<UnrolledNetwork<Scalar>>(std::move(ops));
}

template <typename Scalar>
std::unique_ptr<UnrolledNetwork<Scalar>> MakeAlista(std::shared_ptr<const MatrixX<Scalar>> a,
                                                    const MatrixX<Scalar>& w, Index layers,
                                                    const std::vector<double>& gamma,
                                                    const std::vector<double>& theta) {
  std::vector<std::unique_ptr<Operator<Scalar>>> ops;
  ProxGradientConfig config;
  config.learn_weight = false;
  for (Index k = 0; k < layers; ++k) {
    ops.push_back(std::make_unique<ProxGradientLayer<Scalar>>(a, w, gamma[static_cast<size_t>(k)],
                                                              theta[static_cast<size_t>(k)], config));
  }
  return std::make_unique<UnrolledNetwork<Scalar>>(std::move(ops));
}

// Times TrainSupervised's steps through its progress callback (one call per step).
Result TimeTraining(Operator<float>& op, const MatrixX<float>& b, const MatrixX<float>& x, const Options& o,
                    double lr) {
  TrainerOptions trainer;
  trainer.steps = o.warmup + o.steps;
  trainer.optimizer = "adam";
  trainer.schedule.base = lr;
  trainer.loss = LossKind::kMse;
  trainer.log_every = 1;
  std::vector<double> stamps{0.0};
  const BatchSource<float> source = [&](std::int64_t, MatrixX<float>& in, MatrixX<float>& target) {
    in = b;
    target = x;
  };
  const TrainingSummary s = TrainSupervised<float>(op, source, trainer, [&](const TrainingProgress& p) {
    stamps.push_back(p.seconds);
  });
  if (s.termination != TrainingSummary::Termination::kCompleted) throw Error("training diverged: " + s.message);
  Result r;
  for (size_t i = static_cast<size_t>(o.warmup) + 1; i < stamps.size(); ++i) r.times.push_back(stamps[i] - stamps[i - 1]);
  r.extra.push_back({"final_loss", s.final_loss});
  return r;
}

Result SeedToy(const Options& o) {
  // The seed article: A = randn(M, N), 5 pulses, b = A x + 0.05 n, W ~ 0.1 randn, theta = 0.01.
  Rng rng(0);
  const MatrixX<float> a = StandardGaussianMatrix<float>(o.m, o.n, rng);
  const MatrixX<float> x = Pulses<float>(o.n, 1, 5, rng);
  MatrixX<float> b = a * x;
  AddGaussianNoise<float>(b, 0.05, rng);
  auto net = MakeLista<float>(o.n, o.m, o.layers, rng, 0.1, 0.01);
  TrainerOptions trainer;
  trainer.steps = o.steps;
  trainer.schedule.base = 0.01;
  trainer.loss = LossKind::kMse;
  const BatchSource<float> source = [&](std::int64_t, MatrixX<float>& in, MatrixX<float>& target) {
    in = b;
    target = x;
  };
  const TrainingSummary s = TrainSupervised<float>(*net, source, trainer);
  Result r;
  r.times.push_back(s.seconds);
  r.extra.push_back({"final_loss", s.final_loss});
  return r;
}

struct SparseData {
  std::shared_ptr<MatrixX<float>> a;
  MatrixX<float> x, b;
  double lipschitz = 1.0;
};

SparseData MakeSparseData(const Options& o) {
  Rng rng(1);
  SparseData d;
  d.a = std::make_shared<MatrixX<float>>(GaussianMeasurementMatrix<float>(o.m, o.n, rng));
  d.x = BernoulliGaussian<float>(o.n, o.batch, 0.1, rng);
  d.b = (*d.a) * d.x;
  d.lipschitz = EstimateLipschitz<float>(*d.a);
  return d;
}

// Forward only (z0 = 0), per call, after o.warmup untimed calls; the
// output's sum is reported so that the work cannot be optimised away.
Result TimeInference(const UnrolledNetwork<float>& net, const MatrixX<float>& b, const Options& o) {
  Result r;
  const MatrixX<float> z0 = MatrixX<float>::Zero(o.n, o.batch);
  MatrixX<float> out(o.n, o.batch);
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    const auto t0 = Clock::now();
    net.Forward(z0, b, out);
    if (i >= o.warmup) r.times.push_back(Seconds(t0, Clock::now()));
  }
  r.extra.push_back({"checksum", static_cast<double>(out.sum())});
  return r;
}

Result AlistaStepOrInfer(const Options& o, bool train) {
  SparseData d = MakeSparseData(o);
  const MatrixX<float> w = d.a->transpose();
  std::vector<double> gamma(static_cast<size_t>(o.layers), 1.0 / d.lipschitz),
      theta(static_cast<size_t>(o.layers), 0.1 / d.lipschitz);
  auto net = MakeAlista<float>(d.a, w, o.layers, gamma, theta);
  if (train) return TimeTraining(*net, d.b, d.x, o, 1e-3);
  return TimeInference(*net, d.b, o);
}

Result ListaStepOrInfer(const Options& o, bool train) {
  SparseData d = MakeSparseData(o);
  Rng init(2);
  auto net = MakeLista<float>(o.n, o.m, o.layers, init, 0.01, 0.01);
  if (train) return TimeTraining(*net, d.b, d.x, o, 1e-4);
  return TimeInference(*net, d.b, o);
}

DeqOptions MakeDeqOptions(int iterations) {
  DeqOptions options;
  for (FixedPointOptions* f : {&options.forward, &options.adjoint}) {
    f->method = FixedPointOptions::Method::kAnderson;
    f->max_iterations = iterations;
    f->relative_tolerance = 0.0;  // fixed work: both sides run exactly `iterations`
    f->absolute_tolerance = 0.0;
    f->memory = 5;
    f->ridge = 1e-4;
    f->ridge_scaling = FixedPointOptions::RidgeScaling::kRelative;
    f->trace = FixedPointOptions::Trace::kNone;
  }
  options.backward = DeqBackward::kImplicit;
  return options;
}

Result Deq(const Options& o) {
  SparseData d = MakeSparseData(o);
  const MatrixX<float> w = d.a->transpose();
  auto cell = std::make_unique<ProxGradientLayer<float>>(d.a, w, 1.0 / d.lipschitz, 0.1 / d.lipschitz);
  DeqModel<float> deq(std::move(cell), MakeDeqOptions(o.deq_iterations));
  return TimeTraining(deq, d.b, d.x, o, 1e-4);
}

Result Gemm(const Options& o) {
  // The LISTA step's products at (n, m, B): W1 b, W2 z, gu b^T, gu z^T, W2^T gu.
  Rng rng(3);
  auto rnd = [&](Index r, Index c) { return StandardGaussianMatrix<float>(r, c, rng); };
  const MatrixX<float> w1 = rnd(o.n, o.m), w2 = rnd(o.n, o.n), b = rnd(o.m, o.batch), z = rnd(o.n, o.batch),
                       gu = rnd(o.n, o.batch);
  MatrixX<float> u(o.n, o.batch), g1 = MatrixX<float>::Zero(o.n, o.m), g2 = MatrixX<float>::Zero(o.n, o.n),
      gz(o.n, o.batch);
  const double flops_mix = 2.0 * o.batch * (o.n * o.m + o.n * o.n) * 2.0 + 2.0 * o.batch * o.n * o.n;
  Result r;
  std::vector<double> mix;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    const auto t0 = Clock::now();
    for (int rep = 0; rep < 4; ++rep) {
      u.noalias() = w1 * b;
      u.noalias() += w2 * z;
      g1.noalias() += gu * b.transpose();
      g2.noalias() += gu * z.transpose();
      gz.noalias() = w2.transpose() * gu;
    }
    if (i >= o.warmup) mix.push_back(Seconds(t0, Clock::now()) / 4.0);
  }
  const Index s = 1024;
  const MatrixX<float> p = rnd(s, s), q = rnd(s, s);
  MatrixX<float> c(s, s);
  std::vector<double> square;
  for (int i = 0; i < 2 + std::max(3, o.steps / 4); ++i) {
    const auto t0 = Clock::now();
    c.noalias() = p * q;
    if (i >= 2) square.push_back(Seconds(t0, Clock::now()));
  }
  r.times = mix;
  r.extra.push_back({"gflops_mix", flops_mix / Median(mix) / 1e9});
  r.extra.push_back({"gflops_square1024", 2.0 * s * s * s / Median(square) / 1e9});
  r.extra.push_back({"checksum", static_cast<double>(u.sum() + g1.sum() + g2.sum() + gz.sum() + c(0, 0))});
  return r;
}

Result Bandwidth(const Options& o) {
  const Index size = Index(32) << 20;  // 32 Mi floats = 128 MiB per array
  std::vector<float> src(static_cast<size_t>(size), 1.0f), dst(static_cast<size_t>(size), 0.0f);
  int threads = Eigen::nbThreads();
  Result r;
  std::vector<double> rates;
  for (int i = 0; i < 2 + std::max(5, o.steps / 2); ++i) {
    const auto t0 = Clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; ++t) {
      const Index begin = size * t / threads, end = size * (t + 1) / threads;
      std::memcpy(dst.data() + begin, src.data() + begin, static_cast<size_t>(end - begin) * sizeof(float));
    }
    const double sec = Seconds(t0, Clock::now());
    if (i >= 2) {
      r.times.push_back(sec);
      rates.push_back(2.0 * static_cast<double>(size) * sizeof(float) / sec / 1e9);
    }
    src[static_cast<size_t>(i)] += dst[static_cast<size_t>(size - 1 - i)];
  }
  r.extra.push_back({"copy_gbs", *std::max_element(rates.begin(), rates.end())});
  return r;
}

// --- float64 cross-check -------------------------------------------------------------------------

MatrixX<double> Load(const std::filesystem::path& dir, const std::string& name) {
  return ReadNpyMatrix<double>((dir / (name + ".npy")).string());
}
void Save(const std::filesystem::path& dir, const std::string& name, const MatrixX<double>& m) {
  WriteNpy<double>((dir / (name + ".npy")).string(), m, false);
}

Result Crosscheck(const Options& o) {
  const std::filesystem::path dir(o.dir);
  // Torch layout: samples are rows; ours: columns.
  const MatrixX<double> b = Load(dir, "b").transpose();  // m x B
  const MatrixX<double> x = Load(dir, "x").transpose();  // n x B
  const Index n = x.rows(), m = b.rows();
  const Index layers = static_cast<Index>(Load(dir, "layers")(0, 0));
  TrainerOptions trainer;
  trainer.steps = 1;
  trainer.loss = LossKind::kMse;
  const BatchSource<double> source = [&](std::int64_t, MatrixX<double>& in, MatrixX<double>& target) {
    in = b;
    target = x;
  };
  Result r;
  // LISTA.
  {
    std::vector<std::unique_ptr<Operator<double>>> ops;
    for (Index k = 0; k < layers; ++k) {
      auto layer = std::make_unique<ListaLayer<double>>(ListaLayerConfig{n, m, true});
      ops.push_back(std::move(layer));
    }
    UnrolledNetwork<double> net(std::move(ops));
    for (Index k = 0; k < layers; ++k) {
      auto& layer = static_cast<ListaLayer<double>&>(net.layer(k));
      layer.W1() = Load(dir, "lista_W1_" + std::to_string(k));
      layer.W2() = Load(dir, "lista_W2_" + std::to_string(k));
      layer.theta() = Load(dir, "lista_theta_" + std::to_string(k));
    }
    trainer.schedule.base = 0.01;
    const auto t0 = Clock::now();
    const TrainingSummary s = TrainSupervised<double>(net, source, trainer);
    r.times.push_back(Seconds(t0, Clock::now()));
    r.extra.push_back({"lista_loss", s.final_loss});
    for (Index k = 0; k < layers; ++k) {
      auto& layer = static_cast<ListaLayer<double>&>(net.layer(k));
      Save(dir, "ours_lista_W1_" + std::to_string(k), layer.W1());
      Save(dir, "ours_lista_W2_" + std::to_string(k), layer.W2());
      Save(dir, "ours_lista_theta_" + std::to_string(k), layer.theta());
    }
  }
  // ALISTA.
  {
    auto a = std::make_shared<const MatrixX<double>>(Load(dir, "alista_A"));
    const MatrixX<double> w = Load(dir, "alista_W");
    const MatrixX<double> gamma = Load(dir, "alista_gamma"), theta = Load(dir, "alista_theta");
    std::vector<double> g(gamma.data(), gamma.data() + gamma.size()), t(theta.data(), theta.data() + theta.size());
    auto net = MakeAlista<double>(a, w, layers, g, t);
    trainer.schedule.base = 0.001;
    const TrainingSummary s = TrainSupervised<double>(*net, source, trainer);
    r.extra.push_back({"alista_loss", s.final_loss});
    MatrixX<double> new_gamma(layers, 1), new_theta(layers, 1);
    for (Index k = 0; k < layers; ++k) {
      const auto& layer = static_cast<const ProxGradientLayer<double>&>(net->layer(k));
      new_gamma(k, 0) = layer.gamma();
      new_theta(k, 0) = layer.theta();
    }
    Save(dir, "ours_alista_gamma", new_gamma);
    Save(dir, "ours_alista_theta", new_theta);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  cli::CommonOptions common;
  Options o;
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/perf_bench");
  desc.add_options()("workload", cli::Default(&o.workload),
                     "seed_toy | lista_step | alista_step | infer_lista | infer_alista | deq | gemm | bandwidth | crosscheck")
      ("n", cli::Default(&o.n), "signal dimension N")
      ("m", cli::Default(&o.m), "measurement dimension M")
      ("layers", cli::Default(&o.layers), "unrolled layers K")
      ("batch", cli::Default(&o.batch), "batch size")
      ("steps", cli::Default(&o.steps), "timed repetitions (seed_toy: training epochs)")
      ("warmup", cli::Default(&o.warmup), "untimed repetitions before timing")
      ("deq-iterations", cli::Default(&o.deq_iterations), "DEQ forward and adjoint Anderson iterations")
      ("dir", cli::Default(&o.dir), "crosscheck: folder with the exported .npy files");
  if (auto code = cli::Parse(argc, argv, desc, "perf_bench",
                             "one workload of the PyTorch comparison (run via bench/run_perf.sh)", common)) {
    return *code;
  }
  return cli::RunExperiment("perf_bench", [&] {
    cli::Require(o.n > 0 && o.m > 0 && o.layers > 0 && o.batch > 0, "n/m/layers/batch", "must be > 0");
    cli::Require(o.steps > 0 && o.warmup >= 0, "steps/warmup", "steps must be > 0, warmup >= 0");
    const int threads = Eigen::nbThreads();
    Result r;
    const std::string& w = o.workload;
    if (w == "seed_toy") r = SeedToy(o);
    else if (w == "lista_step") r = ListaStepOrInfer(o, true);
    else if (w == "alista_step") r = AlistaStepOrInfer(o, true);
    else if (w == "infer_lista") r = ListaStepOrInfer(o, false);
    else if (w == "infer_alista") r = AlistaStepOrInfer(o, false);
    else if (w == "deq") r = Deq(o);
    else if (w == "gemm") r = Gemm(o);
    else if (w == "bandwidth") r = Bandwidth(o);
    else if (w == "crosscheck") r = Crosscheck(o);
    else throw Error("--workload: unknown workload '" + w + "'");
    Print(o, r, threads);
    return 0;
  });
}
