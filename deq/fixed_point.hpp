// Batched fixed-point solvers for z = F(z): plain (damped) iteration and
// Anderson acceleration, behind one options struct and one summary.
//
// Each column of z is an independent problem (one sample per column). F is
// evaluated on the whole batch; every sample has its own stopping test,
// Anderson history, restart state and lowest-residual iterate. A sample that
// has converged is frozen (its column no longer changes).
//
// Residual of a sample at iterate z_j: r_j = ||F(z)_j - z_j||; relative
// residual r_j / (||F(z)_j|| + epsilon) (torchdeq's definition). A sample
// stops when either is below its tolerance (a tolerance of 0 is off).
//
// Anderson acceleration, type II (Walker & Ni, SIAM J. Numer. Anal. 2011; the
// form used by Bai, Kolter, Koltun, "Deep Equilibrium Models", NeurIPS 2019):
// keep the last m iterates X = [z_{k-m+1} .. z_k] and values F = [F(z_i)],
// G = F - X, and solve per sample the bordered least-squares system
//   [ 0  1^T          ] [nu   ]   [1]
//   [ 1  G^T G + l I  ] [alpha] = [0]      (min ||G alpha||, sum alpha = 1)
// then z_{k+1} = beta F alpha + (1 - beta) X alpha.
// The ridge l is, by default, RELATIVE: l = ridge * trace(G^T G) / m. An
// absolute ridge of 1e-4 (the DEQ libraries' default) is large next to G^T G
// when residuals are small, as in sparse recovery, and turns Anderson into a
// slowed-down plain iteration (measured in shared/NOTES.md); scaling it with
// the residuals keeps it a regulariser at every scale.
// Safeguards: a non-finite or singular small system falls back to a plain
// damped step and clears that sample's history; a residual that grows past
// divergence_ratio x the sample's lowest absolute residual restarts it from
// its lowest-residual iterate with an empty history.
#pragma once

#include "core/types.hpp"

#include <functional>
#include <string>
#include <vector>

namespace implicit {

struct FixedPointOptions {
  enum class Method { kFixedPoint, kAnderson };
  enum class RidgeScaling { kAbsolute, kRelative };
  enum class Trace { kNone, kSummary, kPerSample };

  Method method = Method::kAnderson;
  int max_iterations = 100;          // evaluations of F
  double relative_tolerance = 1e-6;  // on ||F(z) - z|| / (||F(z)|| + epsilon); 0 = off
  double absolute_tolerance = 0.0;   // on ||F(z) - z||; 0 = off
  double epsilon = 1e-9;
  double damping = 1.0;              // beta: plain z+ = (1-beta) z + beta F(z); Anderson mixing
  int memory = 5;                    // Anderson m (history length)
  double ridge = 1e-4;               // Anderson ridge l (see ridge_scaling)
  RidgeScaling ridge_scaling = RidgeScaling::kRelative;
  double divergence_ratio = 1e4;     // restart a sample when ||F(z) - z|| exceeds ratio x its lowest
  // kPerSample: every sample's relative residual at every iteration
  // (O(iterations x B) memory); kSummary: per-iteration max and median only
  // (use it where memory must not grow with iterations, e.g. DEQ training).
  Trace trace = Trace::kPerSample;

  bool IsValid(std::string* error) const;
  static Method ParseMethod(const std::string& name);  // "fixed_point" | "anderson"
};

struct FixedPointSummary {
  enum class Termination {
    kConverged,      // every sample met a tolerance
    kMaxIterations,  // some sample did not converge within max_iterations
    kDiverged,       // some sample's iterate or residual became non-finite
  };
  Termination termination = Termination::kMaxIterations;
  std::string message;
  int iterations = 0;                  // evaluations of F on the batch
  std::vector<int> sample_iterations;  // per sample: evaluations until it converged (or the total)
  std::vector<bool> converged;         // per sample
  Eigen::VectorXd final_residual;      // per sample, relative, at its last evaluated iterate
  Eigen::VectorXd lowest_residual;     // per sample, relative, of the returned iterate
  Eigen::VectorXd lowest_absolute_residual;  // ||F(z) - z|| at the returned iterate
  int restarts = 0;                    // Anderson restarts and fallbacks, all samples
  // Residual trace, one row of trace_width floats per evaluation, stored
  // contiguously (no allocation per iteration): kPerSample rows hold every
  // sample's relative residual (trace_width = B); kSummary rows hold
  // {max, median} over samples (trace_width = 2); kNone keeps nothing.
  std::vector<float> residual_trace;
  Index trace_width = 0;
  Index trace_length() const { return trace_width > 0 ? static_cast<Index>(residual_trace.size()) / trace_width : 0; }
  float trace(Index iteration, Index column) const {
    return residual_trace[static_cast<size_t>(iteration * trace_width + column)];
  }

  int num_converged() const;
  double median_sample_iterations() const;
  std::string BriefReport() const;
  static std::string TerminationName(Termination t);
};

// F: fills fz = F(z) for a batch; z and fz are n x B.
template <typename Scalar>
using BatchMap = std::function<void(ConstMatRef<Scalar> z, MatRef<Scalar> fz)>;

// Optional observer, called after every update with the iteration count k
// (evaluations of F so far) and the CURRENT iterate (not the lowest-residual
// one), e.g. to record NMSE against the iteration budget.
template <typename Scalar>
using IterateObserver = std::function<void(int k, ConstMatRef<Scalar> z)>;

// z: n x B, in: starting point, out: each sample's lowest-residual iterate.
template <typename Scalar>
FixedPointSummary SolveFixedPoint(const BatchMap<Scalar>& map, MatRef<Scalar> z,
                                  const FixedPointOptions& options,
                                  const IterateObserver<Scalar>& observer = {});

}  // namespace implicit
