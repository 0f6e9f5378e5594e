#include "unfolding/attention.hpp"

#include <cmath>
#include <limits>

namespace implicit {

SideInformation ParseSideInformation(const std::string& name) {
  if (name == "attention") return SideInformation::kAttention;
  if (name == "previous") return SideInformation::kPreviousFrame;
  throw Error("unknown side information '" + name + "' (expected attention or previous)");
}

bool SequenceAttentionConfig::IsValid(std::string* error) const {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = "sequence attention: " + message;
    return false;
  };
  if (signal_dim < 1) return fail("signal_dim must be >= 1");
  if (frames < 1) return fail("frames must be >= 1");
  if (mode == SideInformation::kAttention) {
    if (heads < 1) return fail("heads must be >= 1");
    if (key_dim < 1) return fail("key_dim must be >= 1");
  }
  if (!(norm_epsilon > 0.0) || !std::isfinite(norm_epsilon)) return fail("norm_epsilon must be > 0");
  return true;
}

template <typename Scalar>
void TokenNormalize(ConstMatRef<Scalar> z, double epsilon, MatRef<Scalar> n, VecRef<Scalar> rho) {
  RequireShape(n, z.rows(), z.cols(), "token normalisation output");
  RequireShape(rho, z.cols(), 1, "token normalisation divisor");
  const Scalar inv_dim = Scalar(1) / static_cast<Scalar>(z.rows());
  for (Index c = 0; c < z.cols(); ++c) {
    rho(c) = std::sqrt(z.col(c).squaredNorm() * inv_dim + static_cast<Scalar>(epsilon));
    n.col(c) = z.col(c) / rho(c);
  }
}

template <typename Scalar>
void TokenNormalizeBackward(ConstMatRef<Scalar> z, ConstVecRef<Scalar> rho, ConstMatRef<Scalar> g,
                            MatRef<Scalar> grad_z) {
  RequireShape(g, z.rows(), z.cols(), "token normalisation cotangent");
  RequireShape(grad_z, z.rows(), z.cols(), "token normalisation gradient");
  RequireShape(rho, z.cols(), 1, "token normalisation divisor");
  const Scalar dim = static_cast<Scalar>(z.rows());
  for (Index c = 0; c < z.cols(); ++c) {
    const Scalar r = rho(c);
    const Scalar zg = z.col(c).dot(g.col(c));
    grad_z.col(c) += g.col(c) / r - z.col(c) * (zg / (dim * r * r * r));
  }
}

template <typename Scalar>
SequenceAttention<Scalar>::SequenceAttention(const SequenceAttentionConfig& config, ParameterSet<Scalar>& params)
    : config_(config) {
  std::string error;
  if (!config.IsValid(&error)) throw Error(error);
  const Index n = config.signal_dim;
  if (config.mode == SideInformation::kAttention) {
    for (Index h = 0; h < config.heads; ++h) {
      const std::string tag = std::to_string(h);
      wq_.push_back(params.AddBlock("Wq" + tag, config.key_dim, n));
      wk_.push_back(params.AddBlock("Wk" + tag, config.key_dim, n));
      wv_.push_back(params.AddBlock("Wv" + tag, n, n));
    }
  } else {
    wv_.push_back(params.AddBlock("Wv0", n, n));
  }
}

template <typename Scalar>
void SequenceAttention<Scalar>::Initialize(ParameterSet<Scalar>& params, Rng& rng, double logit_scale,
                                           double value_scale) const {
  const Index n = config_.signal_dim;
  const auto heads = static_cast<Index>(wv_.size());
  for (Index h = 0; h < heads; ++h) {
    params.Block(wv_[static_cast<size_t>(h)]) =
        MatrixX<Scalar>::Identity(n, n) * static_cast<Scalar>(value_scale / static_cast<double>(heads));
  }
  if (config_.mode != SideInformation::kAttention) return;
  const double d = static_cast<double>(config_.key_dim);
  const double c = std::sqrt(logit_scale * std::sqrt(d) / static_cast<double>(n));
  std::normal_distribution<double> normal(0.0, 1.0);
  for (size_t h = 0; h < wq_.size(); ++h) {
    MatrixX<Scalar> g(config_.key_dim, n);
    for (Index j = 0; j < n; ++j)
      for (Index i = 0; i < config_.key_dim; ++i) g(i, j) = static_cast<Scalar>(c * normal(rng) / std::sqrt(d));
    params.Block(wq_[h]) = g;
    params.Block(wk_[h]) = g;
  }
}

template <typename Scalar>
void SequenceAttention<Scalar>::Forward(const ParameterSet<Scalar>& params, ConstMatRef<Scalar> z, MatRef<Scalar> s,
                                        Cache* cache) const {
  const Index n = config_.signal_dim, t_len = config_.frames;
  if (z.rows() != n || z.cols() % t_len != 0) {
    throw Error("sequence attention: frames matrix is " + std::to_string(z.rows()) + "x" + std::to_string(z.cols()) +
                ", expected " + std::to_string(n) + " x (" + std::to_string(t_len) + " * batch)");
  }
  RequireShape(s, z.rows(), z.cols(), "sequence attention output");
  const Index columns = z.cols(), batch = columns / t_len;
  s.setZero();
  if (config_.mode == SideInformation::kPreviousFrame) {
    // s_t = Wv z_{t-1}: one product over all frames, then shift by one frame.
    MatrixX<Scalar> v(n, columns);
    v.noalias() = params.Block(wv_[0]) * z;
    for (Index j = 0; j < batch; ++j) {
      for (Index t = 1; t < t_len; ++t) s.col(j * t_len + t) = v.col(j * t_len + t - 1);
    }
    if (cache != nullptr) cache->z = z;
    return;
  }

  MatrixX<Scalar> normalized(n, columns);
  VectorX<Scalar> rho(columns);
  if (config_.token_norm) {
    TokenNormalize<Scalar>(z, config_.norm_epsilon, normalized, rho);
  } else {
    normalized = z;
  }
  const Scalar inv_sqrt_d = Scalar(1) / std::sqrt(static_cast<Scalar>(config_.key_dim));
  const Scalar neg_inf = -std::numeric_limits<Scalar>::infinity();
  if (cache != nullptr) {
    cache->q.clear();
    cache->k.clear();
    cache->v.clear();
    cache->p.clear();
  }
  for (size_t h = 0; h < wv_.size(); ++h) {
    MatrixX<Scalar> q(config_.key_dim, columns), k(config_.key_dim, columns), v(n, columns), p(t_len, columns);
    q.noalias() = params.Block(wq_[h]) * normalized;
    k.noalias() = params.Block(wk_[h]) * normalized;
    v.noalias() = params.Block(wv_[h]) * z;
    MatrixX<Scalar> logits(t_len, t_len);
    for (Index j = 0; j < batch; ++j) {
      const Index c0 = j * t_len;
      // logits(t, tau) = q_t . k_tau / sqrt(d)
      logits.noalias() = q.middleCols(c0, t_len).transpose() * k.middleCols(c0, t_len);
      logits *= inv_sqrt_d;
      if (config_.exclude_self) logits.diagonal().setConstant(neg_inf);
      // Row-wise softmax, stored transposed: p(tau, c0 + t) = P_{t,tau}.
      for (Index t = 0; t < t_len; ++t) {
        const Scalar top = logits.row(t).maxCoeff();
        if (!std::isfinite(static_cast<double>(top))) {  // no allowed tau (T = 1)
          p.col(c0 + t).setZero();
          continue;
        }
        Scalar total = 0;
        for (Index tau = 0; tau < t_len; ++tau) {
          const Scalar e = logits(t, tau) == neg_inf ? Scalar(0) : std::exp(logits(t, tau) - top);
          p(tau, c0 + t) = e;
          total += e;
        }
        p.col(c0 + t) /= total;
      }
      // s_t += sum_tau P_{t,tau} v_tau  <=>  S_j += V_j P_j^T, and p's block is P_j^T.
      s.middleCols(c0, t_len).noalias() += v.middleCols(c0, t_len) * p.middleCols(c0, t_len);
    }
    if (cache != nullptr) {
      cache->q.push_back(std::move(q));
      cache->k.push_back(std::move(k));
      cache->v.push_back(std::move(v));
      cache->p.push_back(std::move(p));
    }
  }
  if (cache != nullptr) {
    cache->z = z;
    cache->normalized = std::move(normalized);
    cache->rho = std::move(rho);
  }
}

template <typename Scalar>
void SequenceAttention<Scalar>::Backward(const ParameterSet<Scalar>& params, const Cache& cache, ConstMatRef<Scalar> gs,
                                         MatRef<Scalar> grad_z, VecRef<Scalar>* grad_params) const {
  const Index n = config_.signal_dim, t_len = config_.frames;
  const Index columns = cache.z.cols(), batch = columns / t_len;
  RequireShape(gs, n, columns, "sequence attention cotangent");
  RequireShape(grad_z, n, columns, "sequence attention state gradient");
  if (grad_params != nullptr && grad_params->size() != params.size()) {
    throw Error("sequence attention: parameter gradient has " + std::to_string(grad_params->size()) +
                " entries, expected " + std::to_string(params.size()));
  }
  if (config_.mode == SideInformation::kPreviousFrame) {
    // s_t = Wv z_{t-1}: gv_{t-1} = gs_t, gv of the last frame = 0.
    MatrixX<Scalar> gv = MatrixX<Scalar>::Zero(n, columns);
    for (Index j = 0; j < batch; ++j) {
      for (Index t = 1; t < t_len; ++t) gv.col(j * t_len + t - 1) = gs.col(j * t_len + t);
    }
    grad_z.noalias() += params.Block(wv_[0]).transpose() * gv;
    if (grad_params != nullptr) {
      ParameterSet<Scalar>::BlockOf(*grad_params, params.info(wv_[0])).noalias() += gv * cache.z.transpose();
    }
    return;
  }

  const Scalar inv_sqrt_d = Scalar(1) / std::sqrt(static_cast<Scalar>(config_.key_dim));
  MatrixX<Scalar> grad_normalized = MatrixX<Scalar>::Zero(n, columns);
  MatrixX<Scalar> gv(n, columns), gq(config_.key_dim, columns), gk(config_.key_dim, columns);
  MatrixX<Scalar> gp(t_len, t_len), gl(t_len, t_len);
  for (size_t h = 0; h < wv_.size(); ++h) {
    const MatrixX<Scalar>& q = cache.q[h];
    const MatrixX<Scalar>& k = cache.k[h];
    const MatrixX<Scalar>& v = cache.v[h];
    const MatrixX<Scalar>& p = cache.p[h];  // block j is P_j^T
    for (Index j = 0; j < batch; ++j) {
      const Index c0 = j * t_len;
      // S_j = V_j P_j^T:  gV_j = gS_j P_j,  gP_j = gS_j^T V_j  (T x T, (t, tau)).
      gv.middleCols(c0, t_len).noalias() = gs.middleCols(c0, t_len) * p.middleCols(c0, t_len).transpose();
      gp.noalias() = gs.middleCols(c0, t_len).transpose() * v.middleCols(c0, t_len);
      // Softmax per row t: gL_{t,tau} = P_{t,tau} (gP_{t,tau} - sum_sigma P_{t,sigma} gP_{t,sigma}).
      for (Index t = 0; t < t_len; ++t) {
        Scalar inner = 0;
        for (Index tau = 0; tau < t_len; ++tau) inner += p(tau, c0 + t) * gp(t, tau);
        for (Index tau = 0; tau < t_len; ++tau) gl(t, tau) = p(tau, c0 + t) * (gp(t, tau) - inner);
      }
      // L = Q^T K / sqrt(d):  gQ = K gL^T / sqrt(d),  gK = Q gL / sqrt(d).
      gq.middleCols(c0, t_len).noalias() = k.middleCols(c0, t_len) * gl.transpose();
      gk.middleCols(c0, t_len).noalias() = q.middleCols(c0, t_len) * gl;
    }
    gq *= inv_sqrt_d;
    gk *= inv_sqrt_d;
    // v = Wv z, q = Wq n, k = Wk n.
    grad_z.noalias() += params.Block(wv_[h]).transpose() * gv;
    grad_normalized.noalias() += params.Block(wq_[h]).transpose() * gq;
    grad_normalized.noalias() += params.Block(wk_[h]).transpose() * gk;
    if (grad_params != nullptr) {
      ParameterSet<Scalar>::BlockOf(*grad_params, params.info(wv_[h])).noalias() += gv * cache.z.transpose();
      ParameterSet<Scalar>::BlockOf(*grad_params, params.info(wq_[h])).noalias() += gq * cache.normalized.transpose();
      ParameterSet<Scalar>::BlockOf(*grad_params, params.info(wk_[h])).noalias() += gk * cache.normalized.transpose();
    }
  }
  if (config_.token_norm) {
    TokenNormalizeBackward<Scalar>(cache.z, cache.rho, grad_normalized, grad_z);
  } else {
    grad_z += grad_normalized;
  }
}

template void TokenNormalize<float>(ConstMatRef<float>, double, MatRef<float>, VecRef<float>);
template void TokenNormalize<double>(ConstMatRef<double>, double, MatRef<double>, VecRef<double>);
template void TokenNormalizeBackward<float>(ConstMatRef<float>, ConstVecRef<float>, ConstMatRef<float>, MatRef<float>);
template void TokenNormalizeBackward<double>(ConstMatRef<double>, ConstVecRef<double>, ConstMatRef<double>,
                                             MatRef<double>);
template class SequenceAttention<float>;
template class SequenceAttention<double>;

}  // namespace implicit
