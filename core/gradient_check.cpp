#include "core/gradient_check.hpp"

#include <cmath>
#include <limits>
#include <sstream>

namespace implicit {

bool GradientCheckOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (!(step > 0.0 && step < 0.1)) return fail("step must be in (0, 0.1)");
  if (!(tolerance > 0.0)) return fail("tolerance must be > 0");
  if (!(relative_floor >= 0.0 && relative_floor < 1.0)) return fail("relative_floor must be in [0, 1)");
  return true;
}

std::string GradientCheckResult::Report() const {
  std::ostringstream out;
  out << (passed ? "PASS " : "FAIL ") << what << ": " << size << " entries, max rel. error "
      << max_error << ", vector rel. error " << norm_relative_error;
  if (worst_index >= 0) {
    out << " at " << worst_index << " (analytic " << analytic_at_worst << ", numeric "
        << numeric_at_worst << ")";
  }
  return out.str();
}

GradientCheckResult CheckGradient(const std::string& what,
                                  const std::function<double(const Eigen::VectorXd&)>& scalar_fn,
                                  const Eigen::VectorXd& point, const Eigen::VectorXd& analytic,
                                  const GradientCheckOptions& options) {
  std::string error;
  if (!options.IsValid(&error)) throw Error("gradient check options: " + error);
  if (analytic.size() != point.size()) {
    throw Error(what + ": analytic gradient has " + std::to_string(analytic.size()) +
                " entries, point has " + std::to_string(point.size()));
  }
  GradientCheckResult result;
  result.what = what;
  result.size = point.size();
  Eigen::VectorXd numeric(point.size());
  Eigen::VectorXd probe = point;
  for (Index i = 0; i < point.size(); ++i) {
    const double h = options.step * std::max(1.0, std::abs(point(i)));
    auto at = [&](double offset) {
      probe(i) = point(i) + offset;
      const double value = scalar_fn(probe);
      probe(i) = point(i);
      return value;
    };
    // Fourth-order central stencil: truncation O(h^4), so h can be large
    // enough that rounding (~eps |s| / h) stays far below the tolerance.
    numeric(i) = (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h);
  }
  double scale = 0.0;
  for (Index i = 0; i < point.size(); ++i) {
    scale = std::max({scale, std::abs(analytic(i)), std::abs(numeric(i))});
  }
  const double floor = options.relative_floor * scale;
  result.max_error = 0.0;
  for (Index i = 0; i < point.size(); ++i) {
    const double diff = std::abs(analytic(i) - numeric(i));
    const double magnitude = std::max({std::abs(analytic(i)), std::abs(numeric(i)), floor});
    // NaN anywhere (e.g. an unassigned output) must fail, so test !(err <= max).
    const double err = magnitude > 0.0 ? diff / magnitude : (diff == 0.0 ? 0.0 : diff);
    if (!(err <= result.max_error)) {
      result.max_error = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      result.worst_index = i;
      result.analytic_at_worst = analytic(i);
      result.numeric_at_worst = numeric(i);
    }
  }
  const double norm_scale = std::max(analytic.norm(), numeric.norm());
  result.norm_relative_error = norm_scale > 0.0 ? (analytic - numeric).norm() / norm_scale : 0.0;
  if (std::isnan(result.norm_relative_error)) result.norm_relative_error = std::numeric_limits<double>::infinity();
  result.passed = result.max_error <= options.tolerance;
  return result;
}

std::string OperatorGradientCheck::Report() const {
  return value.Report() + "\n" + state.Report() + "\n" + input.Report() + "\n" + params.Report();
}

namespace {

double Dot(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) { return (a.array() * b.array()).sum(); }

Eigen::VectorXd Flatten(const Eigen::MatrixXd& m) {
  return Eigen::Map<const Eigen::VectorXd>(m.data(), m.size());
}

}  // namespace

OperatorGradientCheck CheckOperatorGradients(Operator<double>& op, const Eigen::MatrixXd& z,
                                             const Eigen::MatrixXd& x,
                                             const GradientCheckOptions& options) {
  const Index n = op.state_dim();
  const Index batch = z.cols();
  RequireShape(z, n, batch, op.name() + " gradient check: z");
  RequireShape(x, op.input_dim(), batch, op.name() + " gradient check: x");

  Rng rng(options.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto random_matrix = [&](Index rows, Index cols) {
    Eigen::MatrixXd m(rows, cols);
    for (Index j = 0; j < cols; ++j)
      for (Index i = 0; i < rows; ++i) m(i, j) = normal(rng);
    return m;
  };
  const Eigen::MatrixXd cotangent = random_matrix(n, batch);

  OperatorGradientCheck check;
  const std::string name = op.name();

  // Value of the linearisation must equal Forward.
  Eigen::MatrixXd forward(n, batch);
  op.Forward(z, x, forward);
  std::unique_ptr<Linearization<double>> lin = op.Linearize(z, x);
  {
    GradientCheckResult& v = check.value;
    v.what = name + ": Linearize().Value() == Forward()";
    v.size = forward.size();
    const Eigen::MatrixXd& value = lin->Value();
    if (value.rows() != n || value.cols() != batch) {
      v.max_error = std::numeric_limits<double>::infinity();
    } else {
      const double scale = std::max(1.0, forward.cwiseAbs().maxCoeff());
      v.max_error = (value - forward).cwiseAbs().maxCoeff() / scale;
      if (std::isnan(v.max_error)) v.max_error = std::numeric_limits<double>::infinity();
    }
    v.passed = v.max_error <= 1e-12;
  }

  // d/dstate: assign contract -> pre-fill with NaN.
  Eigen::MatrixXd grad_state =
      Eigen::MatrixXd::Constant(n, batch, std::numeric_limits<double>::quiet_NaN());
  lin->VjpState(cotangent, grad_state);
  {
    Eigen::MatrixXd out(n, batch);
    auto fn = [&](const Eigen::VectorXd& p) {
      op.Forward(Eigen::Map<const Eigen::MatrixXd>(p.data(), n, batch), x, out);
      return Dot(cotangent, out);
    };
    check.state = CheckGradient(name + ": d/dstate (assign)", fn, Flatten(z), Flatten(grad_state), options);
  }

  // d/dinput: accumulate contract -> pre-fill with random values, subtract.
  const Eigen::MatrixXd input_prefill = random_matrix(op.input_dim(), batch);
  Eigen::MatrixXd grad_input = input_prefill;
  lin->VjpInput(cotangent, grad_input);
  grad_input -= input_prefill;
  {
    Eigen::MatrixXd out(n, batch);
    auto fn = [&](const Eigen::VectorXd& p) {
      op.Forward(z, Eigen::Map<const Eigen::MatrixXd>(p.data(), op.input_dim(), batch), out);
      return Dot(cotangent, out);
    };
    check.input = CheckGradient(name + ": d/dinput (accumulate)", fn, Flatten(x), Flatten(grad_input), options);
  }

  // d/dparams: accumulate contract; parameters restored exactly afterwards.
  const Index p_size = op.parameters().size();
  const Eigen::VectorXd params_prefill = Flatten(random_matrix(p_size, 1));
  Eigen::VectorXd grad_params = params_prefill;
  lin->VjpParams(cotangent, grad_params);
  grad_params -= params_prefill;
  lin.reset();  // the linearisation must not see the perturbed parameters
  {
    const Eigen::VectorXd original = op.parameters().Flat();
    Eigen::MatrixXd out(n, batch);
    auto fn = [&](const Eigen::VectorXd& p) {
      op.parameters().Flat() = p;
      op.Forward(z, x, out);
      return Dot(cotangent, out);
    };
    check.params = CheckGradient(name + ": d/dparams (accumulate)", fn, original, grad_params, options);
    op.parameters().Flat() = original;
  }
  return check;
}

}  // namespace implicit
