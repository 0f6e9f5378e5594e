#include "deq/fixed_point.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>

namespace implicit {

bool FixedPointOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& m) {
    if (error != nullptr) *error = m;
    return false;
  };
  if (max_iterations < 1) return fail("max_iterations must be >= 1");
  if (!(relative_tolerance >= 0.0) || !std::isfinite(relative_tolerance))
    return fail("relative_tolerance must be finite and >= 0");
  if (!(absolute_tolerance >= 0.0) || !std::isfinite(absolute_tolerance))
    return fail("absolute_tolerance must be finite and >= 0");
  if (!(epsilon > 0.0)) return fail("epsilon must be > 0");
  if (!(damping > 0.0 && damping <= 1.0)) return fail("damping (beta) must be in (0, 1]");
  if (method == Method::kAnderson && memory < 1) return fail("Anderson memory m must be >= 1");
  if (!(ridge >= 0.0) || !std::isfinite(ridge)) return fail("ridge must be finite and >= 0");
  if (!(divergence_ratio > 1.0)) return fail("divergence_ratio must be > 1");
  return true;
}

FixedPointOptions::Method FixedPointOptions::ParseMethod(const std::string& name) {
  if (name == "fixed_point") return Method::kFixedPoint;
  if (name == "anderson") return Method::kAnderson;
  throw Error("unknown fixed-point solver '" + name + "' (expected fixed_point or anderson)");
}

int FixedPointSummary::num_converged() const {
  return static_cast<int>(std::count(converged.begin(), converged.end(), true));
}

double FixedPointSummary::median_sample_iterations() const {
  if (sample_iterations.empty()) return 0.0;
  std::vector<int> v = sample_iterations;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string FixedPointSummary::TerminationName(Termination t) {
  switch (t) {
    case Termination::kConverged: return "CONVERGED";
    case Termination::kMaxIterations: return "MAX_ITERATIONS";
    case Termination::kDiverged: return "DIVERGED";
  }
  return "?";
}

std::string FixedPointSummary::BriefReport() const {
  std::ostringstream out;
  out << "fixed-point solve: " << TerminationName(termination) << ", " << iterations << " iterations, "
      << num_converged() << "/" << converged.size() << " samples converged (median "
      << median_sample_iterations() << " iterations), max lowest rel. residual "
      << (lowest_residual.size() > 0 ? lowest_residual.maxCoeff() : 0.0) << ", " << restarts << " restarts";
  if (!message.empty()) out << " (" << message << ")";
  return out.str();
}

namespace {

// Per-sample Anderson history: ring buffers of the last m iterates and values.
template <typename Scalar>
class AndersonHistory {
 public:
  AndersonHistory(Index n, Index batch, int memory)
      : memory_(memory), x_(memory, MatrixX<Scalar>(n, batch)), f_(memory, MatrixX<Scalar>(n, batch)),
        count_(static_cast<size_t>(batch), 0), next_(static_cast<size_t>(batch), 0) {}

  void Push(Index j, const Eigen::Ref<const VectorX<Scalar>>& z, const Eigen::Ref<const VectorX<Scalar>>& fz) {
    const int slot = next_[static_cast<size_t>(j)];
    x_[static_cast<size_t>(slot)].col(j) = z;
    f_[static_cast<size_t>(slot)].col(j) = fz;
    next_[static_cast<size_t>(j)] = (slot + 1) % memory_;
    count_[static_cast<size_t>(j)] = std::min(count_[static_cast<size_t>(j)] + 1, memory_);
  }
  void Clear(Index j) {
    count_[static_cast<size_t>(j)] = 0;
    next_[static_cast<size_t>(j)] = 0;
  }
  int count(Index j) const { return count_[static_cast<size_t>(j)]; }

  // Computes the Anderson update for sample j into `out`; false if the small
  // system is singular or non-finite (the caller falls back).
  bool Extrapolate(Index j, double ridge, FixedPointOptions::RidgeScaling scaling, double beta,
                   Eigen::Ref<VectorX<Scalar>> out) const {
    const int k = count(j);
    // Gram matrix of the residual history, in double for a stable small solve:
    // the k residuals f - x (formed in Scalar) as the columns of an n x k
    // double matrix, then vectorised dot products (a scalar double loop over
    // f - x here was 60% of a DEQ training step).
    residuals_.resize(x_.front().rows(), k);
    for (int a = 0; a < k; ++a) {
      residuals_.col(a) =
          (f_[static_cast<size_t>(a)].col(j) - x_[static_cast<size_t>(a)].col(j)).template cast<double>();
    }
    Eigen::MatrixXd gram(k, k);
    for (int a = 0; a < k; ++a) {
      for (int b = 0; b <= a; ++b) gram(a, b) = gram(b, a) = residuals_.col(a).dot(residuals_.col(b));
    }
    const double lambda = scaling == FixedPointOptions::RidgeScaling::kRelative
                              ? ridge * gram.trace() / static_cast<double>(k)
                              : ridge;
    gram.diagonal().array() += lambda;
    // Bordered system [0 1^T; 1 H][nu; alpha] = [1; 0]  <=>  alpha = H^-1 1 / (1^T H^-1 1).
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(gram);
    if (ldlt.info() != Eigen::Success) return false;
    const Eigen::VectorXd h_inv_one = ldlt.solve(Eigen::VectorXd::Ones(k));
    const double denom = h_inv_one.sum();
    if (!std::isfinite(denom) || std::abs(denom) < 1e-300) return false;
    const Eigen::VectorXd alpha = h_inv_one / denom;
    if (!alpha.allFinite()) return false;
    out.setZero();
    for (int a = 0; a < k; ++a) {
      const Scalar wf = static_cast<Scalar>(beta * alpha(a));
      const Scalar wx = static_cast<Scalar>((1.0 - beta) * alpha(a));
      out += wf * f_[static_cast<size_t>(a)].col(j);
      if (wx != Scalar(0)) out += wx * x_[static_cast<size_t>(a)].col(j);
    }
    return out.allFinite();
  }

 private:
  int memory_;
  std::vector<MatrixX<Scalar>> x_, f_;  // memory x (n x B)
  mutable Eigen::MatrixXd residuals_;   // n x k workspace of Extrapolate
  std::vector<int> count_, next_;
};

}  // namespace

template <typename Scalar>
FixedPointSummary SolveFixedPoint(const BatchMap<Scalar>& map, MatRef<Scalar> z,
                                  const FixedPointOptions& options, const IterateObserver<Scalar>& observer) {
  std::string error;
  if (!options.IsValid(&error)) throw Error("fixed-point solver options: " + error);
  RequireFinite(z, "fixed-point solver initial iterate");
  const Index n = z.rows();
  const Index batch = z.cols();
  const auto b = static_cast<size_t>(batch);

  FixedPointSummary summary;
  summary.sample_iterations.assign(b, 0);
  summary.converged.assign(b, false);
  summary.final_residual = Eigen::VectorXd::Constant(batch, std::numeric_limits<double>::infinity());
  summary.lowest_residual = summary.final_residual;
  summary.lowest_absolute_residual = summary.final_residual;

  summary.trace_width = options.trace == FixedPointOptions::Trace::kPerSample ? batch
                        : options.trace == FixedPointOptions::Trace::kSummary ? 2 : 0;
  MatrixX<Scalar> fz(n, batch);
  MatrixX<Scalar> best = z;
  std::vector<bool> frozen(b, false);
  const bool anderson = options.method == FixedPointOptions::Method::kAnderson;
  std::unique_ptr<AndersonHistory<Scalar>> history;
  if (anderson) history = std::make_unique<AndersonHistory<Scalar>>(n, batch, options.memory);
  VectorX<Scalar> next(n);
  Eigen::VectorXd rel(batch);
  Eigen::VectorXd lowest_abs = Eigen::VectorXd::Constant(batch, std::numeric_limits<double>::infinity());
  bool diverged = false;
  const double beta = options.damping;

  for (int k = 1; k <= options.max_iterations; ++k) {
    map(z, fz);
    summary.iterations = k;
    for (Index j = 0; j < batch; ++j) {
      const auto sj = static_cast<size_t>(j);
      if (frozen[sj]) {
        rel(j) = summary.final_residual(j);
        continue;
      }
      const double abs_res = static_cast<double>((fz.col(j) - z.col(j)).norm());
      const double rel_res = abs_res / (static_cast<double>(fz.col(j).norm()) + options.epsilon);
      rel(j) = rel_res;
      summary.final_residual(j) = rel_res;
      summary.sample_iterations[sj] = k;
      if (!std::isfinite(rel_res)) {
        // The map produced NaN/Inf here: keep the best iterate, stop this sample.
        diverged = true;
        frozen[sj] = true;
        continue;
      }
      if (rel_res < summary.lowest_residual(j)) {
        summary.lowest_residual(j) = rel_res;
        best.col(j) = z.col(j);
      }
      lowest_abs(j) = std::min(lowest_abs(j), abs_res);
      const bool met = (options.relative_tolerance > 0.0 && rel_res < options.relative_tolerance) ||
                       (options.absolute_tolerance > 0.0 && abs_res < options.absolute_tolerance);
      if (met) {
        summary.converged[sj] = true;
        frozen[sj] = true;
        continue;
      }
      // Blow-up test on the ABSOLUTE residual: the relative one is bounded
      // (~1 when F(z) dwarfs z) and would never trigger.
      if (abs_res > options.divergence_ratio * lowest_abs(j)) {
        // Blow-up: restart from the lowest-residual iterate with no history.
        z.col(j) = best.col(j);
        if (anderson) history->Clear(j);
        ++summary.restarts;
        continue;
      }
      if (anderson) {
        history->Push(j, z.col(j), fz.col(j));
        if (history->Extrapolate(j, options.ridge, options.ridge_scaling, beta, next)) {
          z.col(j) = next;
        } else {
          history->Clear(j);
          ++summary.restarts;
          z.col(j) = static_cast<Scalar>(1.0 - beta) * z.col(j) + static_cast<Scalar>(beta) * fz.col(j);
        }
      } else {
        z.col(j) = static_cast<Scalar>(1.0 - beta) * z.col(j) + static_cast<Scalar>(beta) * fz.col(j);
      }
    }
    if (options.trace == FixedPointOptions::Trace::kPerSample) {
      for (Index j = 0; j < batch; ++j) summary.residual_trace.push_back(static_cast<float>(rel(j)));
    } else if (options.trace == FixedPointOptions::Trace::kSummary) {
      Eigen::VectorXd sorted = rel;
      std::sort(sorted.data(), sorted.data() + sorted.size());
      summary.residual_trace.push_back(static_cast<float>(sorted(batch - 1)));
      summary.residual_trace.push_back(static_cast<float>(sorted(batch / 2)));
    }
    if (observer) observer(k, z);
    if (std::all_of(frozen.begin(), frozen.end(), [](bool f) { return f; })) break;
  }
  z = best;
  // Absolute residual of the returned iterates (recomputed: the lowest
  // relative and lowest absolute residuals need not be at the same iterate).
  map(z, fz);
  for (Index j = 0; j < batch; ++j) {
    summary.lowest_absolute_residual(j) = static_cast<double>((fz.col(j) - z.col(j)).norm());
  }
  const int done = summary.num_converged();
  if (diverged) {
    summary.termination = FixedPointSummary::Termination::kDiverged;
    summary.message = "the map returned non-finite values for some samples; their lowest-residual iterate is returned";
  } else if (done == static_cast<int>(batch)) {
    summary.termination = FixedPointSummary::Termination::kConverged;
  } else {
    summary.termination = FixedPointSummary::Termination::kMaxIterations;
    summary.message = std::to_string(static_cast<int>(batch) - done) + " samples did not reach the tolerance";
  }
  return summary;
}

template FixedPointSummary SolveFixedPoint<float>(const BatchMap<float>&, MatRef<float>, const FixedPointOptions&,
                                                  const IterateObserver<float>&);
template FixedPointSummary SolveFixedPoint<double>(const BatchMap<double>&, MatRef<double>, const FixedPointOptions&,
                                                   const IterateObserver<double>&);

}  // namespace implicit
