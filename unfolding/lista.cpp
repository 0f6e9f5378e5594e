#include "unfolding/lista.hpp"

#include "core/prox.hpp"
#include "unfolding/layer_kernels.hpp"

namespace implicit {
namespace {

using detail::CheckShape;
using detail::SoftInPlace;

// True iff every entry is exactly 0 (stops at the first non-zero; a pass over
// an n x B state costs ~1/n of the n x n x B product it can save).
template <typename Scalar>
bool IsZero(ConstMatRef<Scalar> m) {
  for (Index j = 0; j < m.cols(); ++j) {
    for (Index i = 0; i < m.rows(); ++i) {
      if (m(i, j) != Scalar(0)) return false;
    }
  }
  return true;
}

}  // namespace

bool ListaLayerConfig::IsValid(std::string* error) const {
  if (signal_dim <= 0 || measurement_dim <= 0) {
    if (error != nullptr) *error = "lista layer: signal_dim and measurement_dim must be > 0";
    return false;
  }
  return true;
}

template <typename Scalar>
class ListaLayer<Scalar>::Lin final : public Linearization<Scalar> {
 public:
  Lin(const ListaLayer& op, MatrixX<Scalar> z, MatrixX<Scalar> b, MatrixX<Scalar> u,
      MatrixX<Scalar> value, MatrixX<Scalar> selected)
      : op_(op), z_(std::move(z)), b_(std::move(b)), u_(std::move(u)), value_(std::move(value)),
        selected_(std::move(selected)) {}

  const MatrixX<Scalar>& Value() const override { return value_; }

  // gu = g .* soft'(u); grad_z = W2^T gu.
  void VjpState(ConstMatRef<Scalar> g, MatRef<Scalar> grad_state) const override {
    Masked(g, gu_);
    grad_state.noalias() = op_.W2().transpose() * gu_;
  }
  // grad_b += W1^T gu.
  void VjpInput(ConstMatRef<Scalar> g, MatRef<Scalar> grad_input) const override {
    Masked(g, gu_);
    grad_input.noalias() += op_.W1().transpose() * gu_;
  }
  // grad_W1 += gu b^T, grad_W2 += gu z^T, grad_theta += -sum gu sign(u) (inside Backward).
  void VjpParams(ConstMatRef<Scalar> g, VecRef<Scalar> grad_params) const override {
    const ParameterSet<Scalar>& p = op_.parameters();
    if (grad_params.size() != p.size()) throw Error("lista_layer: parameter gradient has wrong size");
    Eigen::Map<MatrixX<Scalar>> grad_theta = ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.theta_));
    Eigen::Map<VectorX<Scalar>> grad_theta_vec(grad_theta.data(), grad_theta.size());
    CheckShape(g, u_.rows(), u_.cols(), "lista_layer cotangent");
    gu_.resize(u_.rows(), u_.cols());
    if (op_.threshold_.selects_support()) {
      op_.threshold_.Backward(u_, ThetaVector(), selected_, g, gu_, grad_theta_vec);
    } else {
      SoftBackward(g, gu_, &grad_theta_vec);
    }
    ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.w1_)).noalias() += gu_ * b_.transpose();
    if (!IsZero<Scalar>(z_)) ParameterSet<Scalar>::BlockOf(grad_params, p.info(op_.w2_)).noalias() += gu_ * z_.transpose();
  }

 private:
  Eigen::Map<const VectorX<Scalar>> ThetaVector() const {
    Eigen::Map<const MatrixX<Scalar>> t = op_.theta();
    return Eigen::Map<const VectorX<Scalar>>(t.data(), t.size());
  }
  // gu = g .* soft'(u) into a buffer reused across calls (no allocation after the first).
  void Masked(ConstMatRef<Scalar> g, MatrixX<Scalar>& gu) const {
    CheckShape(g, u_.rows(), u_.cols(), "lista_layer cotangent");
    gu.resize(u_.rows(), u_.cols());
    if (op_.threshold_.selects_support()) {
      VectorX<Scalar> unused = VectorX<Scalar>::Zero(op_.theta().size());
      op_.threshold_.Backward(u_, ThetaVector(), selected_, g, gu, unused);
    } else {
      SoftBackward(g, gu, nullptr);
    }
  }
  // The plain soft threshold's backward (core/prox.hpp SoftThreshold::Backward,
  // same values), vectorised column by column:
  //   gu = g on |u| > theta, 0 elsewhere;  grad_theta += -sum_batch g sign(u) on |u| > theta.
  void SoftBackward(ConstMatRef<Scalar> g, MatrixX<Scalar>& gu, Eigen::Map<VectorX<Scalar>>* grad_theta) const {
    const Eigen::Map<const VectorX<Scalar>> theta = ThetaVector();
    const bool scalar_theta = theta.size() == 1;
    for (Index j = 0; j < u_.cols(); ++j) {
      const auto u = u_.col(j).array();
      const auto gj = g.col(j).array();
      if (scalar_theta) {
        const Scalar t = theta(0);
        gu.col(j).array() = (u.abs() > t).select(gj, Scalar(0));
        if (grad_theta != nullptr) {
          (*grad_theta)(0) += (u > t).select(-gj, (u < -t).select(gj, Scalar(0))).sum();
        }
      } else {
        const auto t = theta.array();
        gu.col(j).array() = (u.abs() > t).select(gj, Scalar(0));
        if (grad_theta != nullptr) {
          grad_theta->array() += (u > t).select(-gj, (u < -t).select(gj, Scalar(0)));
        }
      }
    }
  }

  const ListaLayer& op_;
  MatrixX<Scalar> z_;  // n x B, input state (for grad W2)
  MatrixX<Scalar> b_;  // m x B, measurements (for grad W1)
  MatrixX<Scalar> u_;  // n x B, pre-activation (for the threshold's mask and sign)
  MatrixX<Scalar> value_;
  MatrixX<Scalar> selected_;  // n x B support-selection mask (empty without support selection)
  // n x B workspace: the masked cotangent (so a linearisation's VJPs must not
  // run concurrently on several threads; separate linearisations may).
  mutable MatrixX<Scalar> gu_;
};

template <typename Scalar>
ListaLayer<Scalar>::ListaLayer(const ListaLayerConfig& config)
    : config_(config), threshold_(config.support_percent) {
  std::string error;
  if (!config.IsValid(&error)) throw Error(error);
  w1_ = this->parameters_.AddBlock("W1", config.signal_dim, config.measurement_dim);
  w2_ = this->parameters_.AddBlock("W2", config.signal_dim, config.signal_dim);
  theta_ = this->parameters_.AddBlock("theta", config.per_coordinate_threshold ? config.signal_dim : 1, 1);
}

template <typename Scalar>
void ListaLayer<Scalar>::PreActivation(ConstMatRef<Scalar> z, ConstMatRef<Scalar> b,
                                       MatRef<Scalar> u) const {
  u.noalias() = W1() * b;
  // z = 0 (the usual first layer, x_0 = 0): W2 z is 0, skip the n x n GEMM.
  if (!IsZero<Scalar>(z)) u.noalias() += W2() * z;
}

template <typename Scalar>
void ListaLayer<Scalar>::Forward(ConstMatRef<Scalar> z, ConstMatRef<Scalar> x,
                                 MatRef<Scalar> out) const {
  this->CheckInputs(z, x);
  if (out.rows() != state_dim() || out.cols() != z.cols()) RequireShape(out, state_dim(), z.cols(), name() + " output");
  PreActivation(z, x, out);
  Eigen::Map<const MatrixX<Scalar>> t = theta();
  const Eigen::Map<const VectorX<Scalar>> theta_vec(t.data(), t.size());
  if (threshold_.selects_support()) {
    threshold_.Apply(out, theta_vec, out, nullptr);
  } else if (theta_vec.size() == 1) {
    SoftInPlace<Scalar>(out, theta_vec(0));
  } else {
    SoftInPlace<Scalar>(out, theta_vec);
  }
}

template <typename Scalar>
std::unique_ptr<Linearization<Scalar>> ListaLayer<Scalar>::Linearize(ConstMatRef<Scalar> z,
                                                                     ConstMatRef<Scalar> x) const {
  this->CheckInputs(z, x);
  MatrixX<Scalar> u(state_dim(), z.cols());
  PreActivation(z, x, u);
  MatrixX<Scalar> value(state_dim(), z.cols());
  Eigen::Map<const MatrixX<Scalar>> t = theta();
  MatrixX<Scalar> selected;
  threshold_.Apply(u, Eigen::Map<const VectorX<Scalar>>(t.data(), t.size()), value, &selected);
  return std::make_unique<Lin>(*this, MatrixX<Scalar>(z), MatrixX<Scalar>(x), std::move(u),
                               std::move(value), std::move(selected));
}

template <typename Scalar>
void ListaLayer<Scalar>::InitializeRandom(Rng& rng, double weight_std, double theta0) {
  std::normal_distribution<double> normal(0.0, 1.0);
  // Column-major traversal of W1 then W2: reproducible from the seed.
  for (Index block : {w1_, w2_}) {
    Eigen::Map<MatrixX<Scalar>> w = this->parameters_.Block(block);
    for (Index j = 0; j < w.cols(); ++j)
      for (Index i = 0; i < w.rows(); ++i) w(i, j) = static_cast<Scalar>(weight_std * normal(rng));
  }
  theta().setConstant(static_cast<Scalar>(theta0));
}

template <typename Scalar>
void ListaLayer<Scalar>::InitializeFromIsta(ConstMatRef<Scalar> a, double lipschitz, double lambda) {
  RequireShape(a, config_.measurement_dim, config_.signal_dim, "LISTA initialisation matrix A");
  if (!(lipschitz > 0.0)) throw Error("LISTA initialisation: lipschitz must be > 0");
  const Scalar inv_l = static_cast<Scalar>(1.0 / lipschitz);
  W1() = inv_l * a.transpose();
  W2().setIdentity();
  W2().noalias() -= inv_l * (a.transpose() * a);
  theta().setConstant(static_cast<Scalar>(lambda / lipschitz));
}

template class ListaLayer<float>;
template class ListaLayer<double>;

}  // namespace implicit
