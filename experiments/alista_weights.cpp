// alista_weights: ALISTA's analytic weight matrix W for a measurement matrix A
// (Liu, Chen, Wang, Yin, ICLR 2019; unfolding/alista.hpp).
//
//   alista_weights --matrix A.npy --output W.npy [--precision double|float] [--threads N]
//
// Reads A (m x n), computes W (m x n) = argmin ||W^T A||_F s.t. diag(W^T A) = 1,
// checks diag(W^T A) = 1 (to 1e-10 in double, 1e-4 in float) BEFORE writing,
// writes W to the --output FILE (float64 by default, float32 with
// --precision float), and prints the generalized coherence
// max_{i != j} |w_i^T a_j| next to the plain mutual coherence of A with
// normalised columns (what ALISTA improves on).
//
// Unlike the other experiments this binary writes one file, not a run
// folder, so it defines --output as a file path itself instead of using
// cli::AddCommonOptions (which defines --output as a folder); --help,
// --threads and the exit codes (0 ok, 1 failure, 2 bad command line) follow
// experiments/common/cli.hpp.
#include "core/npy.hpp"
#include "core/results.hpp"
#include "experiments/common/cli.hpp"
#include "unfolding/alista.hpp"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <type_traits>

using namespace implicit;

namespace {

struct Options {
  std::string matrix_path;
  std::string output_path;
  std::string precision = "double";
};

template <typename Scalar>
int Run(const Options& o) {
  cli::Require(!o.matrix_path.empty(), "matrix", "is required");
  cli::Require(!o.output_path.empty(), "output", "is required (path of the W .npy file to write)");
  const MatrixX<Scalar> a = ReadNpyMatrix<Scalar>(o.matrix_path);
  RequireFinite(a, o.matrix_path);
  std::cout << "alista_weights: A " << a.rows() << "x" << a.cols() << " from " << o.matrix_path << " ("
            << o.precision << ")\n";

  MatrixX<Scalar> w;
  try {
    w = AnalyticWeight<Scalar>(a);
  } catch (const Error& e) {
    throw Error(o.matrix_path + ": " + e.what());
  }

  // diag(W^T A) = 1: the constraint of ALISTA's problem, checked in double.
  const Eigen::VectorXd diagonal =
      (w.template cast<double>().array() * a.template cast<double>().array()).colwise().sum().transpose();
  const double diagonal_error = (diagonal.array() - 1.0).abs().maxCoeff();
  const double tolerance = std::is_same_v<Scalar, double> ? 1e-10 : 1e-4;
  if (!(diagonal_error <= tolerance)) {
    throw Error(o.matrix_path + ": diag(W^T A) deviates from 1 by " + std::to_string(diagonal_error) +
                " (tolerance " + std::to_string(tolerance) + "); W not written");
  }
  const double generalized = MutualCoherence<Scalar>(w, a);
  const double plain = NormalizedMutualCoherence<Scalar>(a);
  std::printf("max |diag(W^T A) - 1|                          %.3e\n", diagonal_error);
  std::printf("generalized coherence max_{i!=j} |w_i^T a_j|   %.6f\n", generalized);
  std::printf("mutual coherence of A (normalised columns)     %.6f\n", plain);

  const std::filesystem::path out(o.output_path);
  if (out.has_parent_path()) EnsureDirectory(out.parent_path().string());
  WriteNpy<Scalar>(o.output_path, w);
  std::cout << "W (" << w.rows() << "x" << w.cols() << ", " << (std::is_same_v<Scalar, double> ? "float64" : "float32")
            << ") written to " << o.output_path << "\n";
  return cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = "alista_weights";
  Options o;
  cli::CommonOptions common;  // only .threads is used here (see the header comment)
  cli::po::options_description desc("Options");
  desc.add_options()
      ("help,h", "print this help and exit")
      ("matrix", cli::po::value(&o.matrix_path), "measurement matrix A (m x n, m <= n, full row rank, .npy)")
      ("output", cli::po::value(&o.output_path), "the W file to write (m x n .npy; required)")
      ("precision", cli::Default(&o.precision), "float or double (also the dtype of the written W)")
      ("threads", cli::Default(&common.threads), "threads for linear algebra (0 = all cores)");
  if (auto code = cli::Parse(argc, argv, desc, program,
                             "ALISTA analytic weights W = argmin ||W^T A||_F s.t. diag(W^T A) = 1", common)) {
    return *code;
  }
  return cli::RunExperiment(program, [&] {
    if (o.precision == "float") return Run<float>(o);
    cli::Require(o.precision == "double", "precision", "must be float or double");
    return Run<double>(o);
  });
}
