// Iterations to a relative residual of 1e-6 for plain fixed-point iteration
// and Anderson acceleration (several ridge settings) on ISTA's map
// f(z) = soft(z + A^T (b - A z) / L, lambda / L) over the shared benchmark
// (first --samples test signals), in double. Reproduces shared/NOTES.md and
// picks the documented Anderson defaults.
//   bench/anderson_vs_fixed_point [--samples 100] [--lambda 0.1]
#include "core/npy.hpp"
#include "deq/fixed_point.hpp"
#include "experiments/common/cli.hpp"
#include "unfolding/ista.hpp"

#include <cstdio>
#include <filesystem>

using namespace implicit;

int main(int argc, char** argv) {
  cli::CommonOptions common;
  Index samples = 100;
  double lambda = 0.1;
  int max_iterations = 5000;
  std::string data_dir = "../shared/data/alista";
  cli::po::options_description desc("Options");
  cli::AddCommonOptions(desc, common, "results/anderson_vs_fixed_point");
  desc.add_options()("samples", cli::Default(&samples), "test signals used")
      ("lambda", cli::Default(&lambda), "LASSO weight")
      ("max-iterations", cli::Default(&max_iterations), "iteration cap")
      ("data", cli::Default(&data_dir), "folder with A_m250_n500.npy and xtest_n500_p10.npy");
  if (auto code = cli::Parse(argc, argv, desc, "anderson_vs_fixed_point",
                             "iterations to tolerance: Anderson vs plain iteration on ISTA's map", common)) {
    return *code;
  }
  return cli::RunExperiment("anderson_vs_fixed_point", [&] {
    const std::filesystem::path dir(data_dir);
    const Eigen::MatrixXd a = ReadNpyMatrix<double>((dir / "A_m250_n500.npy").string());
    const Eigen::MatrixXd x = ReadNpyMatrix<double>((dir / "xtest_n500_p10.npy").string()).leftCols(samples);
    const Eigen::MatrixXd b = a * x;
    const double lipschitz = EstimateLipschitz<double>(a);
    IstaStep<double> step(a, lambda, lipschitz);
    const BatchMap<double> map = [&](ConstMatRef<double> z, MatRef<double> fz) { step.Forward(z, b, fz); };
    struct Config { const char* name; FixedPointOptions::Method method; FixedPointOptions::RidgeScaling scaling; double ridge; int memory; };
    const Config configs[] = {
        {"fixed point", FixedPointOptions::Method::kFixedPoint, FixedPointOptions::RidgeScaling::kAbsolute, 0, 5},
        {"anderson m=5 absolute ridge 1e-4", FixedPointOptions::Method::kAnderson, FixedPointOptions::RidgeScaling::kAbsolute, 1e-4, 5},
        {"anderson m=5 absolute ridge 1e-8", FixedPointOptions::Method::kAnderson, FixedPointOptions::RidgeScaling::kAbsolute, 1e-8, 5},
        {"anderson m=5 relative ridge 1e-6", FixedPointOptions::Method::kAnderson, FixedPointOptions::RidgeScaling::kRelative, 1e-6, 5},
        {"anderson m=5 relative ridge 1e-4", FixedPointOptions::Method::kAnderson, FixedPointOptions::RidgeScaling::kRelative, 1e-4, 5},
        {"anderson m=6 relative ridge 1e-4", FixedPointOptions::Method::kAnderson, FixedPointOptions::RidgeScaling::kRelative, 1e-4, 6},
        {"anderson m=10 relative ridge 1e-4", FixedPointOptions::Method::kAnderson, FixedPointOptions::RidgeScaling::kRelative, 1e-4, 10},
    };
    std::printf("ISTA map, lambda %g, %lld samples, relative residual < 1e-6\n", lambda, static_cast<long long>(samples));
    std::printf("%-36s %8s %8s %10s\n", "solver", "median", "max", "converged");
    for (const Config& c : configs) {
      FixedPointOptions options;
      options.method = c.method;
      options.ridge_scaling = c.scaling;
      options.ridge = c.ridge;
      options.memory = c.memory;
      options.max_iterations = max_iterations;
      options.relative_tolerance = 1e-6;
      Eigen::MatrixXd z = Eigen::MatrixXd::Zero(a.cols(), samples);
      const FixedPointSummary s = SolveFixedPoint<double>(map, z, options);
      const int worst = *std::max_element(s.sample_iterations.begin(), s.sample_iterations.end());
      std::printf("%-36s %8.1f %8d %6d/%lld\n", c.name, s.median_sample_iterations(), worst, s.num_converged(),
                  static_cast<long long>(samples));
    }
    return 0;
  });
}
