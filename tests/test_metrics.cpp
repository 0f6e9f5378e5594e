// Tests of core/metrics: losses, their gradients, NMSE and support recovery.
#include "core/metrics.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

using namespace implicit;
using implicit::test::ErrorMessage;
using implicit::test::Contains;


namespace {

// A 3x2 hand example (columns are samples):
//   prediction = [1 2; 3 4; 5 6], target = [0 2; 1 5; 5 3]
//   differences = [1 0; 2 -1; 0 3], squared sum = 1+4+0+0+1+9 = 15.
template <typename Scalar>
void HandExample(MatrixX<Scalar>& prediction, MatrixX<Scalar>& target) {
  prediction.resize(3, 2);
  target.resize(3, 2);
  prediction << 1, 2, 3, 4, 5, 6;
  target << 0, 2, 1, 5, 5, 3;
}

// Central finite differences of loss(prediction) w.r.t. every entry.
template <typename Loss>
Eigen::MatrixXd FiniteDifferenceGradient(Loss loss, Eigen::MatrixXd prediction,
                                         const Eigen::MatrixXd& target, double h = 1e-6) {
  Eigen::MatrixXd g(prediction.rows(), prediction.cols());
  for (Index j = 0; j < prediction.cols(); ++j) {
    for (Index i = 0; i < prediction.rows(); ++i) {
      const double saved = prediction(i, j);
      prediction(i, j) = saved + h;
      const double plus = loss(prediction, target);
      prediction(i, j) = saved - h;
      const double minus = loss(prediction, target);
      prediction(i, j) = saved;
      g(i, j) = (plus - minus) / (2 * h);
    }
  }
  return g;
}

}  // namespace

TEST_CASE_TEMPLATE("MseLoss and HalfSquaredErrorLoss on a hand example", Scalar, float, double) {
  MatrixX<Scalar> p, t;
  HandExample(p, t);
  CHECK(MseLoss<Scalar>(p, t) == doctest::Approx(15.0 / 6.0));              // mean over 6 entries
  CHECK(HalfSquaredErrorLoss<Scalar>(p, t) == doctest::Approx(0.5 * 15.0 / 2.0));  // over 2 samples
  CHECK(MseLoss<Scalar>(t, t) == 0.0);
  CHECK(HalfSquaredErrorLoss<Scalar>(t, t) == 0.0);

  MatrixX<Scalar> grad = MatrixX<Scalar>::Constant(3, 2, Scalar(99));  // assigns, not accumulates
  MseLossGradient<Scalar>(p, t, grad);
  MatrixX<Scalar> expected(3, 2);
  expected << 1, 0, 2, -1, 0, 3;
  CHECK((grad - expected * Scalar(2.0 / 6.0)).cwiseAbs().maxCoeff() < Scalar(1e-6));
  grad.setConstant(Scalar(-7));
  HalfSquaredErrorLossGradient<Scalar>(p, t, grad);
  CHECK((grad - expected * Scalar(0.5)).cwiseAbs().maxCoeff() < Scalar(1e-6));

  // Works on views (a block of columns) too.
  CHECK(MseLoss<Scalar>(p.leftCols(1), t.leftCols(1)) == doctest::Approx(5.0 / 3.0));
}

TEST_CASE("loss gradients match central finite differences") {
  Eigen::MatrixXd p = Eigen::MatrixXd::Random(7, 5);
  const Eigen::MatrixXd t = Eigen::MatrixXd::Random(7, 5);
  auto check = [&](auto loss, auto gradient) {
    Eigen::MatrixXd analytic(7, 5);
    gradient(p, t, analytic);
    const Eigen::MatrixXd numeric = FiniteDifferenceGradient(loss, p, t);
    const double relative = (analytic - numeric).norm() / analytic.norm();
    CHECK(relative <= 1e-6);
    for (Index k = 0; k < analytic.size(); ++k) {
      CHECK(analytic.reshaped()(k) == doctest::Approx(numeric.reshaped()(k)).epsilon(1e-6));
    }
  };
  check([](const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) { return MseLoss<double>(a, b); },
        [](const Eigen::MatrixXd& a, const Eigen::MatrixXd& b, Eigen::MatrixXd& g) {
          MseLossGradient<double>(a, b, g);
        });
  check([](const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
          return HalfSquaredErrorLoss<double>(a, b);
        },
        [](const Eigen::MatrixXd& a, const Eigen::MatrixXd& b, Eigen::MatrixXd& g) {
          HalfSquaredErrorLossGradient<double>(a, b, g);
        });
}

TEST_CASE_TEMPLATE("NmseDb is a ratio of sums", Scalar, float, double) {
  // truth columns x1 = (1, 0), x2 = (0, 3); estimates e1 = (0, 0), e2 = (0, 2).
  // Errors 1 and 1, references 1 and 9.
  MatrixX<Scalar> truth(2, 2), estimate(2, 2);
  truth << 1, 0, 0, 3;
  estimate << 0, 0, 0, 2;
  const double ratio_of_sums = 10.0 * std::log10(2.0 / 10.0);                   // -6.99 dB
  const double mean_of_ratios = 10.0 * std::log10((1.0 + 1.0 / 9.0) / 2.0);     // -2.55 dB
  const double mean_of_db = (0.0 + 10.0 * std::log10(1.0 / 9.0)) / 2.0;         // -4.77 dB
  const double nmse = NmseDb<Scalar>(estimate, truth);
  CHECK(nmse == doctest::Approx(ratio_of_sums).epsilon(1e-6));
  CHECK(std::abs(nmse - mean_of_ratios) > 1.0);
  CHECK(std::abs(nmse - mean_of_db) > 1.0);

  const Eigen::VectorXd per_sample = NmseDbPerSample<Scalar>(estimate, truth);
  REQUIRE(per_sample.size() == 2);
  CHECK(per_sample(0) == doctest::Approx(0.0));
  CHECK(per_sample(1) == doctest::Approx(10.0 * std::log10(1.0 / 9.0)).epsilon(1e-6));

  // Hand example: a 10% amplitude error everywhere is -20 dB.
  CHECK(NmseDb<Scalar>(Scalar(1.1) * truth, truth) == doctest::Approx(-20.0).epsilon(1e-5));

  // Exact estimate -> -inf; all-zero reference -> Error.
  CHECK(NmseDb<Scalar>(truth, truth) == -std::numeric_limits<double>::infinity());
  const MatrixX<Scalar> zero = MatrixX<Scalar>::Zero(2, 2);
  CHECK(Contains(ErrorMessage([&] { NmseDb<Scalar>(estimate, zero); }), "all zero"));
  CHECK_THROWS_AS(NmseDb<Scalar>(MatrixX<Scalar>(0, 0), MatrixX<Scalar>(0, 0)), Error);
}

TEST_CASE("NmseDbPerSample with zero reference columns") {
  Eigen::MatrixXd truth(2, 3), estimate(2, 3);
  truth << 0, 0, 2, 0, 0, 0;
  estimate << 0, 1, 1, 0, 0, 0;
  const Eigen::VectorXd v = NmseDbPerSample<double>(estimate, truth);
  CHECK(v(0) == -std::numeric_limits<double>::infinity());  // zero reference, exact
  CHECK(v(1) == std::numeric_limits<double>::infinity());   // zero reference, error > 0
  CHECK(v(2) == doctest::Approx(10.0 * std::log10(0.25)));
  CHECK(NmseDbPerSample<double>(Eigen::MatrixXd(4, 0), Eigen::MatrixXd(4, 0)).size() == 0);
}

TEST_CASE_TEMPLATE("SupportRecoveryScores on a hand example", Scalar, float, double) {
  MatrixX<Scalar> truth(3, 2), estimate(3, 2);
  truth << 1, 0,
           0, 2,
           Scalar(0.5), 0;
  estimate << Scalar(0.9), Scalar(1e-8),  // TP, below tolerance (not predicted)
              0, 0,                      // -, FN
              0, Scalar(0.3);            // FN, FP
  const SupportRecovery r = SupportRecoveryScores<Scalar>(estimate, truth);
  CHECK(r.true_positives == 1);
  CHECK(r.false_positives == 1);
  CHECK(r.false_negatives == 2);
  CHECK(r.precision == doctest::Approx(0.5));
  CHECK(r.recall == doctest::Approx(1.0 / 3.0));
  CHECK(r.f1 == doctest::Approx(0.4));

  // A larger tolerance drops the 0.5 and 0.3 entries from both supports.
  const SupportRecovery r2 = SupportRecoveryScores<Scalar>(estimate, truth, 0.6);
  CHECK(r2.true_positives == 1);
  CHECK(r2.false_positives == 0);
  CHECK(r2.false_negatives == 1);
  CHECK(r2.precision == 1.0);
  CHECK(r2.recall == doctest::Approx(0.5));

  // Conventions for empty supports.
  const MatrixX<Scalar> zero = MatrixX<Scalar>::Zero(3, 2);
  const SupportRecovery nothing_predicted = SupportRecoveryScores<Scalar>(zero, truth);
  CHECK(nothing_predicted.precision == 1.0);
  CHECK(nothing_predicted.recall == 0.0);
  CHECK(nothing_predicted.f1 == 0.0);
  CHECK(nothing_predicted.false_negatives == 3);
  const SupportRecovery empty_truth = SupportRecoveryScores<Scalar>(estimate, zero);
  CHECK(empty_truth.recall == 1.0);
  CHECK(empty_truth.precision == 0.0);
  CHECK(empty_truth.false_positives == 2);
  const SupportRecovery both_empty = SupportRecoveryScores<Scalar>(zero, zero);
  CHECK(both_empty.precision == 1.0);
  CHECK(both_empty.recall == 1.0);
  CHECK(both_empty.f1 == 1.0);
  const SupportRecovery perfect = SupportRecoveryScores<Scalar>(truth, truth);
  CHECK(perfect.f1 == 1.0);

  CHECK_THROWS_AS(SupportRecoveryScores<Scalar>(estimate, truth, -1.0), Error);
  CHECK_THROWS_AS(SupportRecoveryScores<Scalar>(estimate, truth, std::nan("")), Error);
}

TEST_CASE("every metric rejects shape mismatches and non-finite inputs") {
  const Eigen::MatrixXd a = Eigen::MatrixXd::Ones(4, 3);
  const Eigen::MatrixXd wrong = Eigen::MatrixXd::Ones(4, 2);
  Eigen::MatrixXd grad(4, 3), wrong_grad(3, 4);
  Eigen::MatrixXd nan = a;
  nan(2, 1) = std::numeric_limits<double>::quiet_NaN();
  Eigen::MatrixXd inf = a;
  inf(0, 2) = -std::numeric_limits<double>::infinity();

  // Shape errors name both shapes.
  const std::string message = ErrorMessage([&] { MseLoss<double>(a, wrong); });
  CHECK(Contains(message, "MseLoss"));
  CHECK(Contains(message, "4x3"));
  CHECK(Contains(message, "4x2"));

  using D = double;
  const auto calls = {
      +[](const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) { MseLoss<D>(x, y); },
      +[](const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) { HalfSquaredErrorLoss<D>(x, y); },
      +[](const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) { NmseDb<D>(x, y); },
      +[](const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) { NmseDbPerSample<D>(x, y); },
      +[](const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) { SupportRecoveryScores<D>(x, y); },
      +[](const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) {
        Eigen::MatrixXd g(x.rows(), x.cols());
        MseLossGradient<D>(x, y, g);
      },
      +[](const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) {
        Eigen::MatrixXd g(x.rows(), x.cols());
        HalfSquaredErrorLossGradient<D>(x, y, g);
      },
  };
  int index = 0;
  for (const auto& call : calls) {
    CAPTURE(index);
    CHECK_NOTHROW(call(a, a + a));
    CHECK_THROWS_AS(call(a, wrong), Error);
    CHECK_THROWS_AS(call(wrong, a), Error);
    CHECK(Contains(ErrorMessage([&] { call(nan, a); }), "non-finite"));
    CHECK(Contains(ErrorMessage([&] { call(a, nan); }), "non-finite"));
    CHECK_THROWS_AS(call(inf, a), Error);
    CHECK_THROWS_AS(call(a, inf), Error);
    ++index;
  }
  // The finiteness error names the function and the argument.
  CHECK(Contains(ErrorMessage([&] { NmseDb<double>(nan, a); }), "NmseDb estimate"));
  CHECK(Contains(ErrorMessage([&] { NmseDb<double>(a, nan); }), "NmseDb truth"));
  CHECK(Contains(ErrorMessage([&] { MseLoss<float>(a.cast<float>(), nan.cast<float>()); }),
                 "MseLoss target"));
  // Gradient outputs must have the prediction's shape.
  CHECK(Contains(ErrorMessage([&] { MseLossGradient<double>(a, a, wrong_grad); }), "grad"));
  CHECK_THROWS_AS(HalfSquaredErrorLossGradient<double>(a, a, wrong_grad), Error);
  CHECK_NOTHROW(MseLossGradient<double>(a, a, grad));
  // Empty inputs have no mean.
  CHECK_THROWS_AS(MseLoss<double>(Eigen::MatrixXd(0, 3), Eigen::MatrixXd(0, 3)), Error);
  CHECK_THROWS_AS(HalfSquaredErrorLoss<double>(Eigen::MatrixXd(3, 0), Eigen::MatrixXd(3, 0)), Error);
}
