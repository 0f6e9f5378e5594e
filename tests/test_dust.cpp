// The DUST-style sequence model (issue 7): the l1-l1 prox, token
// normalisation, attention across frames, the DUST layer and stacks of it,
// all finite-difference checked in double (core/gradient_check.hpp); the
// correlated-sequence generator and its .npy input; a fast learning check.
#include "core/data.hpp"
#include "core/gradient_check.hpp"
#include "core/metrics.hpp"
#include "core/npy.hpp"
#include "core/prox_l1l1.hpp"
#include "unfolding/attention.hpp"
#include "unfolding/dust.hpp"
#include "unfolding/sequence_data.hpp"
#include "unfolding/trainer.hpp"
#include "unfolding/unrolled_network.hpp"

#include "tests/test_util.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <set>

using namespace implicit;
using implicit::test::Contains;
using implicit::test::ErrorMessage;
using implicit::test::RandomMatrix;
using implicit::test::RequirePassed;

namespace {

double L1L1Objective(double x, double u, double s, double t1, double t2) {
  return 0.5 * (x - u) * (x - u) + t1 * std::abs(x) + t2 * std::abs(x - s);
}

// Checks d/du, d/ds, d/dtheta1, d/dtheta2 of <g, P(u; s)> at (u, s).
void CheckProxGradients(const Eigen::MatrixXd& u, const Eigen::MatrixXd& s, double t1, double t2, Rng& rng) {
  const Index n = u.rows(), b = u.cols();
  const Eigen::MatrixXd g = RandomMatrix(n, b, rng);
  Eigen::MatrixXd x(n, b), region(n, b);
  L1L1Prox<double>::Apply(u, s, t1, t2, x, &region);
  Eigen::MatrixXd gu = Eigen::MatrixXd::Constant(n, b, std::nan("")), gs = gu;
  double g1 = 0.0, g2 = 0.0;
  L1L1Prox<double>::Backward(x, s, region, t1, t2, g, gu, gs, g1, g2);
  Eigen::MatrixXd tmp(n, b);
  auto flat = [](const Eigen::MatrixXd& m) { return Eigen::Map<const Eigen::VectorXd>(m.data(), m.size()); };
  auto wrt_u = [&](const Eigen::VectorXd& p) {
    L1L1Prox<double>::Apply(Eigen::Map<const Eigen::MatrixXd>(p.data(), n, b), s, t1, t2, tmp);
    return (g.array() * tmp.array()).sum();
  };
  auto wrt_s = [&](const Eigen::VectorXd& p) {
    L1L1Prox<double>::Apply(u, Eigen::Map<const Eigen::MatrixXd>(p.data(), n, b), t1, t2, tmp);
    return (g.array() * tmp.array()).sum();
  };
  auto wrt_t = [&](const Eigen::VectorXd& p) {
    L1L1Prox<double>::Apply(u, s, p(0), p(1), tmp);
    return (g.array() * tmp.array()).sum();
  };
  Eigen::VectorXd thetas(2), grad_thetas(2);
  thetas << t1, t2;
  grad_thetas << g1, g2;
  for (const GradientCheckResult& r :
       {CheckGradient("l1l1 d/du", wrt_u, flat(u), flat(gu), {}), CheckGradient("l1l1 d/ds", wrt_s, flat(s), flat(gs), {}),
        CheckGradient("l1l1 d/dtheta", wrt_t, thetas, grad_thetas, {})}) {
    INFO(r.Report());
    CHECK(r.passed);
  }
}

// f(z; x) = Att(z) + x on the N*T x B state, to check the attention's VJPs
// with CheckOperatorGradients (x makes the input VJP non-trivial).
class AttentionProbe final : public Operator<double> {
 public:
  explicit AttentionProbe(const SequenceAttentionConfig& c) : c_(c), att_(c, this->parameters_) {}
  std::string name() const override { return "attention_probe"; }
  Index state_dim() const override { return c_.signal_dim * c_.frames; }
  Index input_dim() const override { return state_dim(); }
  SequenceAttention<double>& attention() { return att_; }
  void Forward(ConstMatRef<double> z, ConstMatRef<double> x, MatRef<double> out) const override {
    CheckInputs(z, x);
    const Eigen::MatrixXd zf = SequencesToFrames<double>(z, c_.frames);
    Eigen::MatrixXd s(zf.rows(), zf.cols());
    att_.Forward(parameters_, zf, s, nullptr);
    out = FramesToSequences<double>(s, c_.frames) + x;
  }
  std::unique_ptr<Linearization<double>> Linearize(ConstMatRef<double> z, ConstMatRef<double> x) const override {
    auto lin = std::make_unique<Lin>(*this);
    const Eigen::MatrixXd zf = SequencesToFrames<double>(z, c_.frames);
    Eigen::MatrixXd s(zf.rows(), zf.cols());
    att_.Forward(parameters_, zf, s, &lin->cache);
    lin->value = FramesToSequences<double>(s, c_.frames) + x;
    return lin;
  }

 private:
  struct Lin final : Linearization<double> {
    explicit Lin(const AttentionProbe& p) : op(p) {}
    const Eigen::MatrixXd& Value() const override { return value; }
    void VjpState(ConstMatRef<double> g, MatRef<double> gz) const override {
      Eigen::MatrixXd gzf = Eigen::MatrixXd::Zero(op.c_.signal_dim, g.cols() * op.c_.frames);
      op.att_.Backward(op.parameters_, cache, SequencesToFrames<double>(g, op.c_.frames), gzf, nullptr);
      gz = FramesToSequences<double>(gzf, op.c_.frames);
    }
    void VjpInput(ConstMatRef<double> g, MatRef<double> gx) const override { gx += g; }
    void VjpParams(ConstMatRef<double> g, VecRef<double> gp) const override {
      Eigen::MatrixXd gzf = Eigen::MatrixXd::Zero(op.c_.signal_dim, g.cols() * op.c_.frames);
      op.att_.Backward(op.parameters_, cache, SequencesToFrames<double>(g, op.c_.frames), gzf, &gp);
    }
    const AttentionProbe& op;
    SequenceAttention<double>::Cache cache;
    Eigen::MatrixXd value;
  };
  SequenceAttentionConfig c_;
  SequenceAttention<double> att_;
};

// Random (non-identity) attention parameters so every path matters.
void Randomize(ParameterSet<double>& p, Rng& rng, double scale) {
  p.Flat() = RandomMatrix(p.size(), 1, rng, scale);
}

std::unique_ptr<DustLayer<double>> MakeDust(const Eigen::MatrixXd& a, const DustLayerConfig& c, Rng& rng) {
  auto shared = std::make_shared<const Eigen::MatrixXd>(a);
  const Eigen::MatrixXd w = a.transpose() + 0.1 * RandomMatrix(a.cols(), a.rows(), rng);
  auto layer = std::make_unique<DustLayer<double>>(shared, w, 0.6, 0.15, 0.2, c);
  layer->InitializeAttention(rng, 3.0, 1.0);
  // Perturb the attention blocks (the first blocks of the layer) away from the initialisation.
  for (const ParameterBlockInfo& info : layer->parameters().blocks()) {
    if (info.name[0] == 'W' && info.name.size() > 1 && (info.name[1] == 'q' || info.name[1] == 'k' || info.name[1] == 'v')) {
      layer->parameters().Block(layer->parameters().Find(info.name)) +=
          RandomMatrix(info.rows, info.cols, rng, 0.3 / std::sqrt(static_cast<double>(info.cols)));
    }
  }
  return layer;
}

}  // namespace

TEST_CASE("l1-l1 prox: closed form is the minimiser, s = 0 is the soft threshold") {
  Rng rng(3);
  std::uniform_real_distribution<double> uni(-3.0, 3.0);
  for (int trial = 0; trial < 2000; ++trial) {
    const double u = uni(rng), s = uni(rng), t1 = 0.5 * (uni(rng) + 3.0) / 3.0, t2 = 0.5 * (uni(rng) + 3.0) / 3.0;
    Eigen::MatrixXd uu(1, 1), ss(1, 1), out(1, 1);
    uu << u;
    ss << s;
    L1L1Prox<double>::Apply(uu, ss, t1, t2, out);
    const double best = L1L1Objective(out(0), u, s, t1, t2);
    for (double dx : {-1e-3, 1e-3, -0.1, 0.1, -1.0, 1.0}) CHECK(best <= L1L1Objective(out(0) + dx, u, s, t1, t2) + 1e-12);
    CHECK(best <= L1L1Objective(0.0, u, s, t1, t2) + 1e-12);
    CHECK(best <= L1L1Objective(s, u, s, t1, t2) + 1e-12);
  }
  const Eigen::MatrixXd u = RandomMatrix(7, 3, rng);
  Eigen::MatrixXd out(7, 3), soft(7, 3);
  L1L1Prox<double>::Apply(u, Eigen::MatrixXd::Zero(7, 3), 0.3, 0.2, out);
  soft = u.array().sign() * (u.array().abs() - 0.5).max(0.0);
  CHECK((out - soft).cwiseAbs().maxCoeff() < 1e-15);
  // Negative thresholds act as 0: the identity.
  L1L1Prox<double>::Apply(u, u + Eigen::MatrixXd::Ones(7, 3), -0.1, -0.2, out);
  CHECK((out - u).cwiseAbs().maxCoeff() == 0.0);
  CHECK(Contains(ErrorMessage([&] { L1L1Prox<double>::Apply(u, Eigen::MatrixXd::Zero(6, 3), 0.1, 0.1, out); }),
                 "side information"));
}

TEST_CASE("l1-l1 prox VJP (input, side information, both thresholds), random points and near every kink") {
  Rng rng(11);
  const double t1 = 0.3, t2 = 0.45;
  // Random points: every piece is hit.
  const Eigen::MatrixXd u = RandomMatrix(12, 5, rng, 1.5), s = RandomMatrix(12, 5, rng, 1.0);
  Eigen::MatrixXd x(12, 5), region(12, 5);
  L1L1Prox<double>::Apply(u, s, t1, t2, x, &region);
  std::set<int> pieces;
  for (Index i = 0; i < region.size(); ++i) pieces.insert(static_cast<int>(region(i)));
  CHECK(pieces.size() == 3);
  CheckProxGradients(u, s, t1, t2, rng);
  // 1e-3 either side of each of the four kinks, for s > 0 and s < 0
  // (the finite-difference stencil reaches 2e-5: it never crosses a kink).
  for (double side : {0.8, -0.8, 0.1, -0.1}) {
    const double sp = std::abs(side), sg = side > 0 ? 1.0 : -1.0;
    const std::vector<double> kinks = {sp + t1 + t2, sp + t1 - t2, t1 - t2, -t1 - t2};
    Eigen::MatrixXd uk(8, 1), sk = Eigen::MatrixXd::Constant(8, 1, side);
    for (size_t i = 0; i < kinks.size(); ++i) {
      uk(static_cast<Index>(2 * i), 0) = sg * (kinks[i] - 1e-3);
      uk(static_cast<Index>(2 * i + 1), 0) = sg * (kinks[i] + 1e-3);
    }
    CAPTURE(side);
    CheckProxGradients(uk, sk, t1, t2, rng);
  }
}

TEST_CASE("token normalisation VJP") {
  Rng rng(5);
  const Eigen::MatrixXd z = RandomMatrix(9, 6, rng);
  const Eigen::MatrixXd g = RandomMatrix(9, 6, rng);
  Eigen::MatrixXd n(9, 6);
  Eigen::VectorXd rho(6);
  TokenNormalize<double>(z, 1e-3, n, rho);
  CHECK((n.colwise().squaredNorm().array() / 9.0 - 1.0).abs().maxCoeff() < 1e-2);
  Eigen::MatrixXd grad = RandomMatrix(9, 6, rng);
  const Eigen::MatrixXd before = grad;
  TokenNormalizeBackward<double>(z, rho, g, grad);
  grad -= before;  // accumulates
  Eigen::MatrixXd tmp(9, 6);
  Eigen::VectorXd r(6);
  auto fn = [&](const Eigen::VectorXd& p) {
    TokenNormalize<double>(Eigen::Map<const Eigen::MatrixXd>(p.data(), 9, 6), 1e-3, tmp, r);
    return (g.array() * tmp.array()).sum();
  };
  const GradientCheckResult res = CheckGradient("token norm", fn, Eigen::Map<const Eigen::VectorXd>(z.data(), z.size()),
                                                Eigen::Map<const Eigen::VectorXd>(grad.data(), grad.size()), {});
  INFO(res.Report());
  CHECK(res.passed);
}

TEST_CASE("attention across frames: VJPs (heads, token norm, self-exclusion, previous frame)") {
  Rng rng(21);
  struct Case {
    SideInformation mode;
    Index heads;
    bool token_norm, exclude_self;
  };
  for (const Case& c : {Case{SideInformation::kAttention, 1, true, true}, Case{SideInformation::kAttention, 2, true, false},
                        Case{SideInformation::kAttention, 2, false, true}, Case{SideInformation::kPreviousFrame, 1, true, true}}) {
    CAPTURE(c.heads);
    CAPTURE(c.token_norm);
    CAPTURE(c.exclude_self);
    SequenceAttentionConfig config;
    config.signal_dim = 6;
    config.frames = 4;
    config.mode = c.mode;
    config.heads = c.heads;
    config.key_dim = 3;
    config.token_norm = c.token_norm;
    config.exclude_self = c.exclude_self;
    AttentionProbe probe(config);
    Randomize(probe.parameters(), rng, 0.7);
    const Eigen::MatrixXd z = RandomMatrix(24, 3, rng), x = RandomMatrix(24, 3, rng);
    RequirePassed(CheckOperatorGradients(probe, z, x));
  }
}

TEST_CASE("attention: rows of weights sum to one, T = 1 gives no side information, previous frame shifts") {
  Rng rng(2);
  SequenceAttentionConfig config;
  config.signal_dim = 5;
  config.frames = 3;
  ParameterSet<double> params;
  SequenceAttention<double> att(config, params);
  att.Initialize(params, rng);
  const Eigen::MatrixXd z = RandomMatrix(5, 6, rng);
  Eigen::MatrixXd s(5, 6);
  SequenceAttention<double>::Cache cache;
  att.Forward(params, z, s, &cache);
  CHECK((cache.p[0].colwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
  CHECK(cache.p[0].diagonal().cwiseAbs().maxCoeff() == 0.0);  // block 0: exclude self
  // Equal frames with identity values: s_t = that frame.
  Eigen::MatrixXd same(5, 3);
  same.col(0) = z.col(0);
  same.col(1) = z.col(0);
  same.col(2) = z.col(0);
  Eigen::MatrixXd s3(5, 3);
  att.Forward(params, same, s3, nullptr);
  CHECK((s3 - same).cwiseAbs().maxCoeff() < 1e-12);

  config.frames = 1;
  ParameterSet<double> p1;
  SequenceAttention<double> single(config, p1);
  Eigen::MatrixXd s1(5, 2);
  single.Forward(p1, z.leftCols(2), s1, nullptr);
  CHECK(s1.cwiseAbs().maxCoeff() == 0.0);

  config.frames = 3;
  config.mode = SideInformation::kPreviousFrame;
  ParameterSet<double> pp;
  SequenceAttention<double> prev(config, pp);
  prev.Initialize(pp, rng);
  prev.Forward(pp, z, s, nullptr);
  CHECK(s.col(0).cwiseAbs().maxCoeff() == 0.0);
  CHECK((s.col(1) - z.col(0)).cwiseAbs().maxCoeff() < 1e-15);
  CHECK((s.col(5) - z.col(4)).cwiseAbs().maxCoeff() < 1e-15);
  CHECK(s.col(3).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("DUST layer VJPs (state, input, attention, W, gamma, theta1, theta2)") {
  Rng rng(31);
  struct Case {
    SideInformation mode;
    Index heads;
    bool learn_weight;
  };
  for (const Case& c : {Case{SideInformation::kAttention, 1, true}, Case{SideInformation::kAttention, 2, false},
                        Case{SideInformation::kPreviousFrame, 1, true}}) {
    CAPTURE(c.heads);
    CAPTURE(c.learn_weight);
    DustLayerConfig config;
    config.signal_dim = 8;
    config.measurement_dim = 5;
    config.frames = 3;
    config.side_information = c.mode;
    config.heads = c.heads;
    config.key_dim = 3;
    config.learn_weight = c.learn_weight;
    const Eigen::MatrixXd a = RandomMatrix(5, 8, rng, 1.0 / std::sqrt(5.0));
    auto layer = MakeDust(a, config, rng);
    const Eigen::MatrixXd z = RandomMatrix(24, 3, rng), b = RandomMatrix(15, 3, rng);
    // Every prox piece (0, side, linear) is exercised at this point.
    auto lin = layer->Linearize(z, b);
    const Eigen::MatrixXd zf = SequencesToFrames<double>(z, 3);
    const Eigen::MatrixXd value = SequencesToFrames<double>(lin->Value(), 3);
    CHECK((value.array() == 0.0).count() > 0);
    CHECK((value.array() != 0.0).count() > value.size() / 4);
    RequirePassed(CheckOperatorGradients(*layer, z, b));
  }
}

TEST_CASE("DUST stacked in an unrolled network: VJPs, and T = 1 reduces to a per-frame prox-gradient step") {
  Rng rng(41);
  DustLayerConfig config;
  config.signal_dim = 6;
  config.measurement_dim = 4;
  config.frames = 3;
  config.key_dim = 2;
  const Eigen::MatrixXd a = RandomMatrix(4, 6, rng, 0.5);
  std::vector<std::unique_ptr<Operator<double>>> layers;
  for (int k = 0; k < 3; ++k) layers.push_back(MakeDust(a, config, rng));
  UnrolledNetwork<double> net(std::move(layers));
  // Three stacked layers give parameter gradients spanning ~6 orders of
  // magnitude; entries below 1e-5 of the largest are judged by absolute error
  // (round-off of the finite differences is ~1e-11 there).
  GradientCheckOptions options;
  options.relative_floor = 1e-5;
  RequirePassed(CheckOperatorGradients(net, RandomMatrix(18, 3, rng, 0.5), RandomMatrix(12, 3, rng), options));

  config.frames = 1;
  auto single = MakeDust(a, config, rng);
  const Eigen::MatrixXd z = RandomMatrix(6, 4, rng), b = RandomMatrix(4, 4, rng);
  Eigen::MatrixXd out(6, 4);
  single->Forward(z, b, out);
  Eigen::MatrixXd u = z + single->gamma() * (single->W() * (b - a * z));
  const double t = single->theta1() + single->theta2();
  const Eigen::MatrixXd soft = u.array().sign() * (u.array().abs() - t).max(0.0);
  CHECK((out - soft).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(Contains(ErrorMessage([&] { single->Forward(Eigen::MatrixXd::Zero(5, 4), b, out); }), "state has 5 rows"));
}

TEST_CASE("sequence generator: k non-zeros per frame, drift controls support changes, seeded") {
  SequenceOptions o;
  o.signal_dim = 30;
  o.frames = 6;
  o.sparsity = 4;
  o.drift = 0.0;
  Rng rng(1), rng2(1);
  const Eigen::MatrixXd x = GenerateSequences<double>(o, 20, rng);
  CHECK(x == GenerateSequences<double>(o, 20, rng2));
  const Eigen::MatrixXd f = SequencesToFrames<double>(x, 6);
  for (Index c = 0; c < f.cols(); ++c) CHECK((f.col(c).array() != 0.0).count() == 4);
  // drift 0: the support never changes; amplitudes do, smoothly.
  for (Index s = 0; s < 20; ++s)
    for (Index t = 1; t < 6; ++t) CHECK(((f.col(s * 6 + t).array() != 0.0) == (f.col(s * 6).array() != 0.0)).all());
  CHECK(FramesToSequences<double>(f, 6) == x);
  // drift 1: consecutive supports overlap only by chance (~k^2/N per pair).
  o.drift = 1.0;
  const Eigen::MatrixXd g = SequencesToFrames<double>(GenerateSequences<double>(o, 200, rng), 6);
  double overlap = 0;
  for (Index s = 0; s < 200; ++s)
    for (Index t = 1; t < 6; ++t)
      overlap += ((g.col(s * 6 + t).array() != 0.0) && (g.col(s * 6 + t - 1).array() != 0.0)).count();
  CHECK(overlap / (200.0 * 5.0) < 1.0);  // expected 4 * 4 / 30 ~ 0.53 shared entries
  o.drift = 1.5;
  CHECK(Contains(ErrorMessage([&] { GenerateSequences<double>(o, 1, rng); }), "drift"));
}

TEST_CASE("sequence .npy input: (N, T, S) round trip, wrong shape and NaN are clear errors") {
  implicit::test::TempDir dir;
  Rng rng(4);
  SequenceOptions o;
  o.signal_dim = 7;
  o.frames = 3;
  o.sparsity = 2;
  const Eigen::MatrixXf x = GenerateSequences<float>(o, 5, rng);
  NpyArray<float> array;
  array.shape = {7, 3, 5};
  array.data.assign(x.data(), x.data() + x.size());
  WriteNpy<float>(dir.File("seq.npy"), array, false);  // C order on disk
  CHECK(ReadSequencesNpy<float>(dir.File("seq.npy"), 7, 3) == x);
  CHECK(Contains(ErrorMessage([&] { ReadSequencesNpy<float>(dir.File("seq.npy"), 8, 3); }), "expected N = 8"));
  CHECK(Contains(ErrorMessage([&] { ReadSequencesNpy<float>(dir.File("seq.npy"), 7, 4); }), "frames"));
  WriteNpy<float>(dir.File("flat.npy"), Eigen::MatrixXf(x));
  CHECK(Contains(ErrorMessage([&] { ReadSequencesNpy<float>(dir.File("flat.npy"), 0, 0); }), "3-D"));
  array.data[4] = std::numeric_limits<float>::quiet_NaN();
  WriteNpy<float>(dir.File("nan.npy"), array);
  CHECK(Contains(ErrorMessage([&] { ReadSequencesNpy<float>(dir.File("nan.npy"), 7, 3); }), "non-finite"));
}

TEST_CASE("DUST learns: a small sequence model trained for a few seconds gains > 3 dB and uses the side information") {
  Rng rng(7);
  const Index n = 24, m = 12, frames = 4, depth = 3;
  SequenceOptions o;
  o.signal_dim = n;
  o.frames = frames;
  o.sparsity = 3;
  o.drift = 0.05;
  MeasurementMatrixOptions mo;
  const Eigen::MatrixXf a = GaussianMeasurementMatrix<float>(m, n, rng, mo);
  const double lipschitz = 1.01 * SpectralNormSquared<float>(a, rng);
  auto shared = std::make_shared<const Eigen::MatrixXf>(a);
  DustLayerConfig config;
  config.signal_dim = n;
  config.measurement_dim = m;
  config.frames = frames;
  config.key_dim = 4;
  std::vector<std::unique_ptr<Operator<float>>> layers;
  for (Index k = 0; k < depth; ++k) {
    auto layer = std::make_unique<DustLayer<float>>(shared, Eigen::MatrixXf(a.transpose()), 1.0 / lipschitz,
                                                    0.05 / lipschitz, 0.05 / lipschitz, config);
    layer->InitializeAttention(rng);
    layers.push_back(std::move(layer));
  }
  UnrolledNetwork<float> net(std::move(layers));
  Rng test_rng(99);
  const Eigen::MatrixXf test_x = GenerateSequences<float>(o, 200, test_rng);
  const Eigen::MatrixXf test_b = MeasureSequences<float>(a, test_x, frames, 30.0, test_rng);
  auto nmse = [&] {
    Eigen::MatrixXf out(n * frames, 200);
    net.Forward(Eigen::MatrixXf::Zero(n * frames, 200), test_b, out);
    return NmseDb<float>(out, test_x);
  };
  const double before = nmse();
  TrainerOptions to;
  to.steps = 300;
  to.loss = LossKind::kHalfSquaredError;
  to.adam.learning_rate = 2e-3;
  Rng batch_rng(5);
  const TrainingSummary s = TrainSupervised<float>(net, [&](std::int64_t, Eigen::MatrixXf& b, Eigen::MatrixXf& x) {
    x = GenerateSequences<float>(o, 32, batch_rng);
    b = MeasureSequences<float>(a, x, frames, 30.0, batch_rng);
  }, to);
  REQUIRE(s.termination == TrainingSummary::Termination::kCompleted);
  const double after = nmse();
  INFO("before " << before << " dB, after " << after << " dB");
  CHECK(after < before - 3.0);
  // The side-information threshold stays active in at least one layer that
  // actually receives side information (layer 1 sees z = 0, hence s = 0).
  double theta2 = 0;
  for (Index k = 1; k < depth; ++k) theta2 = std::max(theta2, static_cast<double>(dynamic_cast<const DustLayer<float>&>(net.layer(k)).theta2()));
  CHECK(theta2 > 0.0);
}
