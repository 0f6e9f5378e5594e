#include "core/data.hpp"

#include <Eigen/SVD>

#include <cmath>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace implicit {
namespace {

void RequireNonNegative(Index value, const char* function, const char* argument) {
  if (value < 0) {
    throw Error(std::string(function) + ": " + argument + " must be >= 0, got " +
                std::to_string(value));
  }
}

// One N(0,1) draw converted to Scalar, redrawn until non-zero in Scalar.
template <typename Scalar>
Scalar NonZeroNormal(std::normal_distribution<double>& normal, Rng& rng) {
  for (;;) {
    const Scalar value = static_cast<Scalar>(normal(rng));
    if (value != Scalar(0)) return value;
  }
}

}  // namespace

template <typename Scalar>
MatrixX<Scalar> BernoulliGaussian(Index n, Index batch, double p, Rng& rng) {
  RequireNonNegative(n, "BernoulliGaussian", "n");
  RequireNonNegative(batch, "BernoulliGaussian", "batch");
  if (!(p >= 0.0 && p <= 1.0)) {
    throw Error("BernoulliGaussian: p must be in [0, 1], got " + std::to_string(p));
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  MatrixX<Scalar> x = MatrixX<Scalar>::Zero(n, batch);
  for (Index j = 0; j < batch; ++j) {
    for (Index i = 0; i < n; ++i) {
      if (uniform(rng) < p) x(i, j) = NonZeroNormal<Scalar>(normal, rng);
    }
  }
  return x;
}

template <typename Scalar>
MatrixX<Scalar> Pulses(Index n, Index batch, Index k, Rng& rng) {
  RequireNonNegative(n, "Pulses", "n");
  RequireNonNegative(batch, "Pulses", "batch");
  RequireNonNegative(k, "Pulses", "k");
  if (k > n) {
    throw Error("Pulses: k (non-zeros per column) must be <= n, got k = " + std::to_string(k) +
                ", n = " + std::to_string(n));
  }
  std::normal_distribution<double> normal(0.0, 1.0);
  MatrixX<Scalar> x = MatrixX<Scalar>::Zero(n, batch);
  std::vector<Index> positions(static_cast<std::size_t>(n));
  for (Index j = 0; j < batch; ++j) {
    std::iota(positions.begin(), positions.end(), Index(0));
    for (Index i = 0; i < k; ++i) {
      std::uniform_int_distribution<Index> pick(i, n - 1);
      std::swap(positions[static_cast<std::size_t>(i)],
                positions[static_cast<std::size_t>(pick(rng))]);
    }
    for (Index i = 0; i < k; ++i) {
      x(positions[static_cast<std::size_t>(i)], j) = NonZeroNormal<Scalar>(normal, rng);
    }
  }
  return x;
}

namespace {

Eigen::MatrixXd StandardGaussianDouble(Index m, Index n, Rng& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::MatrixXd a(m, n);
  for (Index j = 0; j < n; ++j) {
    for (Index i = 0; i < m; ++i) a(i, j) = normal(rng);
  }
  return a;
}

}  // namespace

template <typename Scalar>
MatrixX<Scalar> StandardGaussianMatrix(Index m, Index n, Rng& rng) {
  RequireNonNegative(m, "StandardGaussianMatrix", "m");
  RequireNonNegative(n, "StandardGaussianMatrix", "n");
  return StandardGaussianDouble(m, n, rng).cast<Scalar>();
}

template <typename Scalar>
MatrixX<Scalar> GaussianMeasurementMatrix(Index m, Index n, Rng& rng,
                                          const MeasurementMatrixOptions& options) {
  if (m < 1) throw Error("GaussianMeasurementMatrix: m must be >= 1, got " + std::to_string(m));
  if (n < 1) throw Error("GaussianMeasurementMatrix: n must be >= 1, got " + std::to_string(n));
  const double kappa = options.condition_number;
  if (!(kappa == 0.0 || (std::isfinite(kappa) && kappa >= 1.0))) {
    throw Error("GaussianMeasurementMatrix: condition_number must be 0 (not prescribed) or a "
                "finite value >= 1, got " + std::to_string(kappa));
  }
  const Index r = std::min(m, n);
  if (kappa != 0.0 && r == 1 && kappa != 1.0) {
    throw Error("GaussianMeasurementMatrix: condition_number " + std::to_string(kappa) +
                " cannot be prescribed for a " + std::to_string(m) + "x" + std::to_string(n) +
                " matrix (a single singular value always gives condition number 1)");
  }

  Eigen::MatrixXd a = StandardGaussianDouble(m, n, rng) / std::sqrt(static_cast<double>(m));

  if (kappa == 0.0) {
    if (options.normalize_columns) {
      for (Index j = 0; j < n; ++j) {
        const double norm = a.col(j).norm();
        if (norm == 0.0) throw Error("GaussianMeasurementMatrix: drew an all-zero column");
        a.col(j) /= norm;
      }
    }
    return a.cast<Scalar>();
  }

  Eigen::BDCSVD<Eigen::MatrixXd> svd(a, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const double s_max = svd.singularValues()(0);
  if (!(s_max > 0.0)) throw Error("GaussianMeasurementMatrix: drew a zero matrix");
  Eigen::VectorXd s(r);
  for (Index i = 0; i < r; ++i) {
    const double t = (r == 1) ? 0.0 : static_cast<double>(i) / static_cast<double>(r - 1);
    s(i) = s_max * std::pow(kappa, -t);
  }
  a.noalias() = svd.matrixU() * s.asDiagonal() * svd.matrixV().transpose();
  if (options.normalize_columns) {
    // Mean squared column norm = ||A||_F^2 / n = sum_i s_i^2 / n.
    a *= std::sqrt(static_cast<double>(n) / s.squaredNorm());
  }
  return a.cast<Scalar>();
}

template <typename Scalar>
void AddNoiseAtSnr(MatRef<Scalar> b, double snr_db, Rng& rng) {
  if (!std::isfinite(snr_db)) {
    throw Error("AddNoiseAtSnr: snr_db must be finite, got " + std::to_string(snr_db));
  }
  RequireFinite(b, "AddNoiseAtSnr b");
  const double factor = std::pow(10.0, -snr_db / 20.0);
  const Index m = b.rows();
  if (m == 0) return;
  std::normal_distribution<double> normal(0.0, 1.0);
  for (Index j = 0; j < b.cols(); ++j) {
    double mean = 0.0;
    for (Index i = 0; i < m; ++i) mean += static_cast<double>(b(i, j));
    mean /= static_cast<double>(m);
    double variance = 0.0;
    for (Index i = 0; i < m; ++i) {
      const double d = static_cast<double>(b(i, j)) - mean;
      variance += d * d;
    }
    variance /= static_cast<double>(m);
    const double sigma = std::sqrt(variance) * factor;
    for (Index i = 0; i < m; ++i) {
      const double noise = normal(rng);  // always drawn: fixed Rng consumption
      if (sigma > 0.0) b(i, j) = static_cast<Scalar>(static_cast<double>(b(i, j)) + sigma * noise);
    }
  }
}

template <typename Scalar>
void AddGaussianNoise(MatRef<Scalar> b, double sigma, Rng& rng) {
  if (!(std::isfinite(sigma) && sigma >= 0.0)) {
    throw Error("AddGaussianNoise: sigma must be finite and >= 0, got " + std::to_string(sigma));
  }
  std::normal_distribution<double> normal(0.0, 1.0);
  for (Index j = 0; j < b.cols(); ++j) {
    for (Index i = 0; i < b.rows(); ++i) {
      b(i, j) = static_cast<Scalar>(static_cast<double>(b(i, j)) + sigma * normal(rng));
    }
  }
}

template <typename Scalar>
double SpectralNormSquared(ConstMatRef<Scalar> a, Rng& rng, int max_iterations,
                           double tolerance) {
  if (max_iterations < 1) {
    throw Error("SpectralNormSquared: max_iterations must be >= 1, got " +
                std::to_string(max_iterations));
  }
  if (!(tolerance >= 0.0)) {
    throw Error("SpectralNormSquared: tolerance must be >= 0, got " + std::to_string(tolerance));
  }
  RequireFinite(a, "SpectralNormSquared matrix");
  if (a.rows() == 0 || a.cols() == 0) return 0.0;
  const Eigen::MatrixXd ad = a.template cast<double>();

  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::VectorXd v(ad.cols());
  for (Index i = 0; i < v.size(); ++i) v(i) = normal(rng);
  v.normalize();

  Eigen::VectorXd av = ad * v;
  double lambda = av.squaredNorm();  // Rayleigh quotient v^T A^T A v, ||v|| = 1
  for (int it = 0; it < max_iterations; ++it) {
    Eigen::VectorXd w = ad.transpose() * av;
    const double w_norm = w.norm();
    if (w_norm == 0.0) return 0.0;  // v in the null space: A v = 0 and A^T A v = 0
    v = w / w_norm;
    av.noalias() = ad * v;
    const double next = av.squaredNorm();
    const bool converged = std::abs(next - lambda) <= tolerance * std::abs(next);
    lambda = next;
    if (converged) break;
  }
  return lambda;
}

#define IMPLICIT_INSTANTIATE_DATA(S)                                                         \
  template MatrixX<S> BernoulliGaussian<S>(Index, Index, double, Rng&);                      \
  template MatrixX<S> Pulses<S>(Index, Index, Index, Rng&);                                  \
  template MatrixX<S> StandardGaussianMatrix<S>(Index, Index, Rng&);                         \
  template MatrixX<S> GaussianMeasurementMatrix<S>(Index, Index, Rng&,                       \
                                                   const MeasurementMatrixOptions&);         \
  template void AddNoiseAtSnr<S>(MatRef<S>, double, Rng&);                                   \
  template void AddGaussianNoise<S>(MatRef<S>, double, Rng&);                                \
  template double SpectralNormSquared<S>(ConstMatRef<S>, Rng&, int, double);

IMPLICIT_INSTANTIATE_DATA(float)
IMPLICIT_INSTANTIATE_DATA(double)

#undef IMPLICIT_INSTANTIATE_DATA

}  // namespace implicit
