// Tests of core/data: sparse codes, measurement matrices, noise, ||A||_2^2.
#include "core/data.hpp"

#include <Eigen/SVD>
#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace implicit;
using implicit::test::ErrorMessage;
using implicit::test::Contains;


namespace {

// s_max / s_min over the min(m, n) singular values.
double ConditionNumber(const Eigen::MatrixXd& a) {
  Eigen::BDCSVD<Eigen::MatrixXd> svd(a);
  const Eigen::VectorXd& s = svd.singularValues();
  return s(0) / s(s.size() - 1);
}

double SampleVariance(const Eigen::ArrayXd& v) {
  const double mean = v.mean();
  return (v - mean).square().sum() / static_cast<double>(v.size() - 1);
}

}  // namespace

TEST_CASE("generators are reproducible from the seed and differ across seeds") {
  auto draw_all = [](std::uint64_t seed) {
    Rng rng(seed);
    std::vector<Eigen::MatrixXd> out;
    out.push_back(BernoulliGaussian<double>(20, 7, 0.3, rng));
    out.push_back(Pulses<double>(20, 7, 3, rng));
    out.push_back(StandardGaussianMatrix<double>(5, 9, rng));
    out.push_back(GaussianMeasurementMatrix<double>(6, 10, rng));
    MeasurementMatrixOptions conditioned;
    conditioned.condition_number = 10.0;
    out.push_back(GaussianMeasurementMatrix<double>(6, 10, rng, conditioned));
    Eigen::MatrixXd b = Eigen::MatrixXd::Ones(4, 3);
    b.row(0).setConstant(3.0);
    AddNoiseAtSnr<double>(b, 10.0, rng);
    out.push_back(b);
    Eigen::MatrixXd c = Eigen::MatrixXd::Zero(4, 3);
    AddGaussianNoise<double>(c, 0.05, rng);
    out.push_back(c);
    out.push_back(Eigen::MatrixXd::Constant(1, 1, SpectralNormSquared<double>(out[2], rng, 3)));
    return out;
  };
  const auto a = draw_all(42);
  const auto b = draw_all(42);
  const auto c = draw_all(43);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i] == b[i]);  // bit-identical
    CHECK(a[i] != c[i]);
  }
}

TEST_CASE("float and double draws come from the same double stream") {
  Rng rd(7), rf(7);
  const Eigen::MatrixXd d = StandardGaussianMatrix<double>(8, 5, rd);
  const Eigen::MatrixXf f = StandardGaussianMatrix<float>(8, 5, rf);
  CHECK(f == d.cast<float>());
  const Eigen::MatrixXd pd = Pulses<double>(30, 10, 4, rd);
  const Eigen::MatrixXf pf = Pulses<float>(30, 10, 4, rf);
  CHECK(pf == pd.cast<float>());
  const Eigen::MatrixXd bd = BernoulliGaussian<double>(30, 10, 0.2, rd);
  const Eigen::MatrixXf bf = BernoulliGaussian<float>(30, 10, 0.2, rf);
  CHECK(bf == bd.cast<float>());
}

TEST_CASE("BernoulliGaussian: sparsity level and amplitude law") {
  Rng rng(1);
  const Index n = 500, batch = 400;
  const double p = 0.1;
  const Eigen::MatrixXd x = BernoulliGaussian<double>(n, batch, p, rng);
  REQUIRE(x.rows() == n);
  REQUIRE(x.cols() == batch);
  const double total = static_cast<double>(n * batch);
  const Index nnz = (x.array() != 0.0).count();
  const double fraction = static_cast<double>(nnz) / total;
  const double standard_error = std::sqrt(p * (1 - p) / total);
  CHECK(std::abs(fraction - p) < 4.0 * standard_error);

  Eigen::ArrayXd amplitudes(nnz);
  Index k = 0;
  for (Index j = 0; j < batch; ++j)
    for (Index i = 0; i < n; ++i)
      if (x(i, j) != 0.0) amplitudes(k++) = x(i, j);
  // ~20000 amplitudes: SE(mean) ~ 0.007, SE(variance) ~ 0.01.
  CHECK(std::abs(amplitudes.mean()) < 0.03);
  CHECK(std::abs(SampleVariance(amplitudes) - 1.0) < 0.05);

  // The non-zero fraction per column is not stuck on one column/row pattern.
  const Eigen::VectorXd per_row = (x.array() != 0.0).cast<double>().rowwise().mean();
  CHECK(per_row.minCoeff() > 0.0);
}

TEST_CASE("BernoulliGaussian: edge probabilities and argument checks") {
  Rng rng(2);
  CHECK((BernoulliGaussian<double>(10, 5, 0.0, rng).array() == 0.0).all());
  CHECK((BernoulliGaussian<float>(10, 5, 1.0, rng).array() != 0.0f).all());
  CHECK(BernoulliGaussian<double>(0, 3, 0.5, rng).size() == 0);
  CHECK(Contains(ErrorMessage([&] { BernoulliGaussian<double>(10, 5, 1.5, rng); }), "p"));
  CHECK_THROWS_AS(BernoulliGaussian<double>(10, 5, -0.1, rng), Error);
  CHECK_THROWS_AS(BernoulliGaussian<double>(10, 5, std::nan(""), rng), Error);
  CHECK(Contains(ErrorMessage([&] { BernoulliGaussian<double>(-1, 5, 0.1, rng); }), "n must be"));
  CHECK(Contains(ErrorMessage([&] { BernoulliGaussian<double>(3, -5, 0.1, rng); }), "batch"));
}

TEST_CASE("Pulses: exactly k non-zeros per column at uniform positions") {
  Rng rng(3);
  const Index n = 40, batch = 5000, k = 5;
  const Eigen::MatrixXd x = Pulses<double>(n, batch, k, rng);
  for (Index j = 0; j < batch; ++j) {
    if ((x.col(j).array() != 0.0).count() != k) {
      FAIL("column " << j << " does not have exactly " << k << " non-zeros");
    }
  }
  // Each position is occupied with probability k/n = 1/8: expected 625 per
  // row, binomial SE ~ 23.4; allow 5 SE.
  const Eigen::VectorXd per_row = (x.array() != 0.0).cast<double>().rowwise().sum();
  const double expected = static_cast<double>(batch * k) / static_cast<double>(n);
  CHECK((per_row.array() - expected).abs().maxCoeff() < 5.0 * std::sqrt(expected * (1 - 1.0 / 8)));
  // Amplitudes ~ N(0,1).
  Eigen::ArrayXd amplitudes(batch * k);
  Index c = 0;
  for (Index j = 0; j < batch; ++j)
    for (Index i = 0; i < n; ++i)
      if (x(i, j) != 0.0) amplitudes(c++) = x(i, j);
  CHECK(std::abs(SampleVariance(amplitudes) - 1.0) < 0.05);

  // Edge cases and argument checks.
  CHECK((Pulses<double>(10, 4, 0, rng).array() == 0.0).all());
  CHECK((Pulses<float>(10, 4, 10, rng).array() != 0.0f).all());
  CHECK(Contains(ErrorMessage([&] { Pulses<double>(10, 4, 11, rng); }), "k"));
  CHECK_THROWS_AS(Pulses<double>(10, 4, -1, rng), Error);
  CHECK_THROWS_AS(Pulses<double>(-10, 4, 1, rng), Error);
  CHECK_THROWS_AS(Pulses<double>(10, -4, 1, rng), Error);
}

TEST_CASE("Gaussian matrices: N(0,1) entries, N(0,1/m) before normalisation, unit columns") {
  const Index m = 200, n = 300;
  {
    Rng rng(4);
    const Eigen::MatrixXd g = StandardGaussianMatrix<double>(m, n, rng);
    const Eigen::ArrayXd v = g.reshaped().array();
    // 60000 entries: SE(mean) ~ 0.004, SE(variance) ~ 0.006.
    CHECK(std::abs(v.mean()) < 0.02);
    CHECK(std::abs(SampleVariance(v) - 1.0) < 0.03);
  }
  {
    Rng rng(5);
    MeasurementMatrixOptions raw;
    raw.normalize_columns = false;
    const Eigen::MatrixXd a = GaussianMeasurementMatrix<double>(m, n, rng, raw);
    const Eigen::ArrayXd v = a.reshaped().array();
    CHECK(std::abs(SampleVariance(v) * static_cast<double>(m) - 1.0) < 0.03);
    // It is exactly the standard draw divided by sqrt(m).
    Rng again(5);
    const Eigen::MatrixXd g = StandardGaussianMatrix<double>(m, n, again);
    CHECK((a - g / std::sqrt(static_cast<double>(m))).cwiseAbs().maxCoeff() < 1e-15);
  }
  {
    Rng rng(6);
    const Eigen::MatrixXd a = GaussianMeasurementMatrix<double>(m, n, rng);
    CHECK((a.colwise().norm().array() - 1.0).abs().maxCoeff() < 1e-12);
    // Same directions as the raw draw.
    Rng again(6);
    Eigen::MatrixXd g = StandardGaussianMatrix<double>(m, n, again);
    g = g.array().rowwise() / g.colwise().norm().array();
    CHECK((a - g).cwiseAbs().maxCoeff() < 1e-14);
  }
  {
    Rng rng(6);
    const Eigen::MatrixXf a = GaussianMeasurementMatrix<float>(50, 80, rng);
    CHECK((a.cast<double>().colwise().norm().array() - 1.0).abs().maxCoeff() < 1e-6);
  }
  Rng rng(7);
  CHECK(Contains(ErrorMessage([&] { GaussianMeasurementMatrix<double>(0, 5, rng); }), "m must be"));
  CHECK(Contains(ErrorMessage([&] { GaussianMeasurementMatrix<double>(5, -1, rng); }), "n must be"));
  CHECK_THROWS_AS(StandardGaussianMatrix<double>(-1, 5, rng), Error);
}

TEST_CASE("GaussianMeasurementMatrix: prescribed condition numbers") {
  const std::vector<std::pair<Index, Index>> shapes = {{50, 100}, {100, 50}, {40, 40}, {250, 500}};
  for (const double kappa : {5.0, 30.0, 100.0}) {
    for (const auto& [m, n] : shapes) {
      CAPTURE(kappa);
      CAPTURE(m);
      CAPTURE(n);
      Rng rng(11);
      MeasurementMatrixOptions options;
      options.condition_number = kappa;
      const Eigen::MatrixXd a = GaussianMeasurementMatrix<double>(m, n, rng, options);
      Eigen::BDCSVD<Eigen::MatrixXd> svd(a);
      const Eigen::VectorXd s = svd.singularValues();
      REQUIRE(s.size() == std::min(m, n));
      CHECK(std::abs(s(0) / s(s.size() - 1) / kappa - 1.0) < 1e-6);
      // Mean squared column norm is 1; columns are only roughly unit norm.
      CHECK(std::abs(a.squaredNorm() / static_cast<double>(n) - 1.0) < 1e-12);
      // Singular values form a geometric progression.
      const double ratio = std::pow(kappa, -1.0 / static_cast<double>(s.size() - 1));
      for (Index i = 1; i < s.size(); ++i) CHECK(s(i) / s(i - 1) == doctest::Approx(ratio).epsilon(1e-9));

      // Without normalisation: same condition number, no rescaling.
      Rng rng2(11);
      options.normalize_columns = false;
      const Eigen::MatrixXd b = GaussianMeasurementMatrix<double>(m, n, rng2, options);
      CHECK(std::abs(ConditionNumber(b) / kappa - 1.0) < 1e-6);
      CHECK((b / b.norm() - a / a.norm()).cwiseAbs().maxCoeff() < 1e-12);
    }
  }
  // Float: the same construction, rounded to float.
  {
    Rng rng(12);
    MeasurementMatrixOptions options;
    options.condition_number = 30.0;
    const Eigen::MatrixXf a = GaussianMeasurementMatrix<float>(50, 100, rng, options);
    CHECK(std::abs(ConditionNumber(a.cast<double>()) / 30.0 - 1.0) < 1e-4);
  }
  // kappa = 1: all singular values equal.
  {
    Rng rng(13);
    MeasurementMatrixOptions options;
    options.condition_number = 1.0;
    const Eigen::MatrixXd a = GaussianMeasurementMatrix<double>(30, 60, rng, options);
    CHECK(std::abs(ConditionNumber(a) - 1.0) < 1e-12);
    // A single singular value: only kappa = 1 is possible.
    CHECK_NOTHROW(GaussianMeasurementMatrix<double>(1, 5, rng, options));
    options.condition_number = 5.0;
    CHECK_THROWS_AS(GaussianMeasurementMatrix<double>(1, 5, rng, options), Error);
    CHECK_THROWS_AS(GaussianMeasurementMatrix<double>(5, 1, rng, options), Error);
  }
  // Invalid condition numbers.
  Rng rng(14);
  for (const double bad : {0.5, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    CAPTURE(bad);
    MeasurementMatrixOptions options;
    options.condition_number = bad;
    CHECK(Contains(ErrorMessage([&] { GaussianMeasurementMatrix<double>(10, 20, rng, options); }),
                   "condition_number"));
  }
}

TEST_CASE("AddNoiseAtSnr realises the target SNR") {
  Rng rng(21);
  const Index m = 250, n = 500, batch = 2000;
  const Eigen::MatrixXd a = GaussianMeasurementMatrix<double>(m, n, rng);
  const Eigen::MatrixXd x = BernoulliGaussian<double>(n, batch, 0.1, rng);
  Eigen::MatrixXd clean = a * x;
  // Columns of very different scales and non-zero means: the noise follows
  // each column's own standard deviation (about its mean).
  for (Index j = 0; j < batch; ++j) clean.col(j) = clean.col(j) * (1.0 + j % 7) + Eigen::VectorXd::Constant(m, 0.3 * (j % 3));
  for (const double snr_db : {40.0, 20.0, 10.0, 0.0}) {
    CAPTURE(snr_db);
    Eigen::MatrixXd noisy = clean;
    AddNoiseAtSnr<double>(noisy, snr_db, rng);
    double mean_db = 0.0;
    for (Index j = 0; j < batch; ++j) {
      const Eigen::ArrayXd c = clean.col(j).array();
      const double signal_var = (c - c.mean()).square().mean();
      const double noise_power = (noisy.col(j) - clean.col(j)).squaredNorm() / static_cast<double>(m);
      mean_db += 10.0 * std::log10(signal_var / noise_power);
    }
    mean_db /= static_cast<double>(batch);
    CHECK(std::abs(mean_db - snr_db) < 0.2);
  }
  // Float path as well.
  {
    Eigen::MatrixXf noisy = clean.cast<float>();
    const Eigen::MatrixXf reference = noisy;
    AddNoiseAtSnr<float>(noisy, 20.0, rng);
    const double ratio = (reference.cast<double>().rowwise() -
                          reference.cast<double>().colwise().mean()).squaredNorm() /
                         (noisy - reference).cast<double>().squaredNorm();
    CHECK(std::abs(10.0 * std::log10(ratio) - 20.0) < 0.2);
  }
  // A constant (zero-std) column gets no noise; the others do.
  Eigen::MatrixXd b(4, 3);
  b << 1, 2, 0, 1, 2, 1, 1, 2, 0, 1, 2, 1;  // columns: constant 1, constant 2, varying
  const Eigen::MatrixXd b0 = b;
  AddNoiseAtSnr<double>(b, 10.0, rng);
  CHECK(b.col(0) == b0.col(0));
  CHECK(b.col(1) == b0.col(1));
  CHECK(b.col(2) != b0.col(2));
  // The Rng advances by m * batch draws regardless of the data.
  {
    Rng r1(5), r2(5);
    Eigen::MatrixXd z = Eigen::MatrixXd::Zero(4, 3);
    Eigen::MatrixXd y = Eigen::MatrixXd::Random(4, 3);
    AddNoiseAtSnr<double>(z, 10.0, r1);
    AddNoiseAtSnr<double>(y, 10.0, r2);
    CHECK(r1() == r2());
  }
  // Argument checks.
  CHECK(Contains(ErrorMessage([&] { AddNoiseAtSnr<double>(b, std::nan(""), rng); }), "snr_db"));
  CHECK_THROWS_AS(AddNoiseAtSnr<double>(b, std::numeric_limits<double>::infinity(), rng), Error);
  b(1, 1) = std::nan("");
  CHECK(Contains(ErrorMessage([&] { AddNoiseAtSnr<double>(b, 10.0, rng); }), "AddNoiseAtSnr b"));
}

TEST_CASE("AddGaussianNoise adds sigma * N(0,1)") {
  Rng rng(31);
  Eigen::MatrixXd b = Eigen::MatrixXd::Constant(300, 200, 2.0);
  AddGaussianNoise<double>(b, 0.05, rng);
  const Eigen::ArrayXd noise = (b.array() - 2.0).reshaped();
  CHECK(std::abs(noise.mean()) < 0.002);
  CHECK(std::abs(std::sqrt(SampleVariance(noise)) / 0.05 - 1.0) < 0.02);

  // Same Rng state, different sigma: proportional noise; sigma = 0: unchanged.
  Rng r1(8), r2(8), r3(8);
  Eigen::MatrixXf n1 = Eigen::MatrixXf::Zero(5, 4), n2 = n1, n3 = n1;
  AddGaussianNoise<float>(n1, 0.1, r1);
  AddGaussianNoise<float>(n2, 0.2, r2);
  AddGaussianNoise<float>(n3, 0.0, r3);
  CHECK((n2 - 2.0f * n1).cwiseAbs().maxCoeff() < 1e-6f);
  CHECK((n3.array() == 0.0f).all());
  CHECK(r1() == r3());

  CHECK(Contains(ErrorMessage([&] { AddGaussianNoise<double>(b, -0.1, rng); }), "sigma"));
  CHECK_THROWS_AS(AddGaussianNoise<double>(b, std::nan(""), rng), Error);
}

TEST_CASE("SpectralNormSquared matches the SVD") {
  Rng rng(41);
  // Default settings on matrices whose top gap guarantees convergence in 200
  // steps (s2/s1 <= 0.97), independently of the particular draw.
  std::vector<Eigen::MatrixXd> matrices;
  MeasurementMatrixOptions options;
  options.condition_number = 10.0;  // s2/s1 = 10^(-1/63) ~ 0.964
  matrices.push_back(GaussianMeasurementMatrix<double>(64, 128, rng, options));
  options.condition_number = 5.0;   // s2/s1 = 5^(-1/49) ~ 0.968
  matrices.push_back(GaussianMeasurementMatrix<double>(100, 50, rng, options));
  options.condition_number = 1000.0;
  matrices.push_back(GaussianMeasurementMatrix<double>(30, 30, rng, options));
  Eigen::MatrixXd rank_one = Eigen::VectorXd::LinSpaced(6, 1, 6) * Eigen::RowVectorXd::LinSpaced(4, -1, 2);
  matrices.push_back(rank_one);
  // A Gaussian matrix with a planted dominant direction.
  Eigen::MatrixXd spiked = GaussianMeasurementMatrix<double>(80, 160, rng);
  spiked += 3.0 * Eigen::VectorXd::Ones(80).normalized() * Eigen::RowVectorXd::Ones(160).normalized();
  matrices.push_back(spiked);
  for (std::size_t k = 0; k < matrices.size(); ++k) {
    CAPTURE(k);
    const Eigen::MatrixXd& a = matrices[k];
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(a);
    const double expected = svd.singularValues()(0) * svd.singularValues()(0);
    const double estimate = SpectralNormSquared<double>(a, rng);
    CHECK(std::abs(estimate / expected - 1.0) < 1e-6);
    CHECK(estimate <= expected * (1.0 + 1e-12));  // a Rayleigh quotient
  }
  // Small top gaps (s2/s1 ~ 0.99, common for large Gaussian draws) need more
  // than the default 200 steps for 1e-6; the stopping rule still gives 1e-6.
  for (int draw = 0; draw < 6; ++draw) {
    CAPTURE(draw);
    const Eigen::MatrixXd a = draw == 0   ? GaussianMeasurementMatrix<double>(100, 50, rng)
                              : draw == 1 ? StandardGaussianMatrix<double>(30, 30, rng)
                                          : GaussianMeasurementMatrix<double>(250, 500, rng);
    Eigen::BDCSVD<Eigen::MatrixXd> svd(a);
    const double expected = svd.singularValues()(0) * svd.singularValues()(0);
    const double estimate = SpectralNormSquared<double>(a, rng, 5000);
    CHECK(std::abs(estimate / expected - 1.0) < 1e-6);
    CHECK(estimate <= expected * (1.0 + 1e-12));
    // A few steps already give a lower bound within a few percent.
    const double rough = SpectralNormSquared<double>(a, rng, 10);
    CHECK(rough <= expected * (1.0 + 1e-12));
    CHECK(rough > 0.9 * expected);
  }
  // Float input.
  const Eigen::MatrixXf af = matrices[0].cast<float>();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(af.cast<double>());
  CHECK(SpectralNormSquared<float>(af, rng) ==
        doctest::Approx(svd.singularValues()(0) * svd.singularValues()(0)).epsilon(1e-6));
  // Degenerate inputs and argument checks.
  CHECK(SpectralNormSquared<double>(Eigen::MatrixXd::Zero(4, 3), rng) == 0.0);
  CHECK(SpectralNormSquared<double>(Eigen::MatrixXd(0, 3), rng) == 0.0);
  Eigen::MatrixXd bad = Eigen::MatrixXd::Ones(3, 3);
  bad(2, 0) = std::numeric_limits<double>::infinity();
  CHECK(Contains(ErrorMessage([&] { SpectralNormSquared<double>(bad, rng); }), "SpectralNormSquared"));
  CHECK_THROWS_AS(SpectralNormSquared<double>(rank_one, rng, 0), Error);
  CHECK_THROWS_AS(SpectralNormSquared<double>(rank_one, rng, 10, -1.0), Error);
}
