// Attention across the frames of a sequence: the side-information generator
// of the DUST-style layer (unfolding/dust.hpp), after De Weerdt, Eldar,
// Deligiannis, "Deep Unfolding Transformers for Sparse Recovery of Video",
// IEEE TSP 72, 2024 (attention between the frames' current estimates, one or
// more heads, token normalisation).
//
// One sample is a whole sequence: a state column of length N*T holding the T
// frame estimates z_1..z_T (frame-major: rows [t*N, (t+1)*N) are z_t). Inside,
// a batch of B sequences is handled as the N x (T*B) matrix Z of its frames
// (column t + T*j is frame t of sample j; the same memory as the N*T x B state).
//
// kAttention (per sample, per head h = 1..H, d = key_dim):
//   rho_t = sqrt(||z_t||^2 / N + eps),  n_t = z_t / rho_t      token normalisation (RMS,
//                                                              no learned gain; off: n_t = z_t)
//   q_t = Wq_h n_t,  k_t = Wk_h n_t          (d x N maps)      queries, keys
//   L_{t,tau} = q_t . k_tau / sqrt(d),  tau != t if exclude_self
//   P_{t,.}   = softmax_tau(L_{t,.})         (T x T, rows sum to 1; a row with no
//                                            allowed tau, T = 1, is all zero)
//   v_tau = Wv_h z_tau                       (N x N map on the UN-normalised tokens,
//                                            so s_t is in signal units)
//   s_t  += sum_tau P_{t,tau} v_tau          (summed over heads)
// kPreviousFrame (the causal, RNN-style side information that preceded DUST):
//   s_1 = 0,  s_t = Wv z_{t-1}               (only "Wv0"; no queries/keys)
//
// Parameter blocks (declared in the ParameterSet handed to the constructor,
// i.e. the owning layer's): per head h "Wq<h>" d x N, "Wk<h>" d x N, "Wv<h>"
// N x N (kAttention); "Wv0" N x N (kPreviousFrame).
//
// This is a component, not an Operator (it has no input): the owning layer
// calls Forward/Backward with its own parameters.
#pragma once

#include "core/parameters.hpp"
#include "core/types.hpp"

#include <string>
#include <vector>

namespace implicit {

enum class SideInformation {
  kAttention,      // DUST: attention over all (other) frames
  kPreviousFrame,  // causal: s_t = Wv z_{t-1}
};
SideInformation ParseSideInformation(const std::string& name);  // "attention" | "previous"

struct SequenceAttentionConfig {
  Index signal_dim = 0;    // N, the token size
  Index frames = 0;        // T
  SideInformation mode = SideInformation::kAttention;
  Index heads = 1;         // H >= 1 (kAttention)
  Index key_dim = 16;      // d >= 1 (kAttention)
  bool exclude_self = true;   // side information for frame t from the OTHER frames only
  bool token_norm = true;     // RMS token normalisation before queries/keys
  double norm_epsilon = 1e-6; // eps in rho_t (> 0)
  bool IsValid(std::string* error) const;
};

// Token normalisation, columnwise: n = z / sqrt(||z||^2 / N + eps). z, n: N x C,
// rho: C (the per-column divisor). Assigns.
template <typename Scalar>
void TokenNormalize(ConstMatRef<Scalar> z, double epsilon, MatRef<Scalar> n, VecRef<Scalar> rho);
// Its VJP: grad_z += g / rho - z (z . g) / (N rho^3), columnwise. ACCUMULATES.
template <typename Scalar>
void TokenNormalizeBackward(ConstMatRef<Scalar> z, ConstVecRef<Scalar> rho, ConstMatRef<Scalar> g,
                            MatRef<Scalar> grad_z);

template <typename Scalar>
class SequenceAttention {
 public:
  // What Backward needs, filled by Forward (frames layout N x (T*B)).
  struct Cache {
    MatrixX<Scalar> z;                        // N x TB
    MatrixX<Scalar> normalized;               // N x TB (kAttention)
    VectorX<Scalar> rho;                      // TB (token_norm)
    std::vector<MatrixX<Scalar>> q, k, v, p;  // per head: d x TB, d x TB, N x TB, T x TB
  };

  // Declares the blocks in `params` (see the header comment) and returns.
  SequenceAttention(const SequenceAttentionConfig& config, ParameterSet<Scalar>& params);

  const SequenceAttentionConfig& config() const { return config_; }

  // s = side information, both N x (T*B) frames matrices. Assigns s.
  // cache (nullable) receives what Backward needs.
  void Forward(const ParameterSet<Scalar>& params, ConstMatRef<Scalar> z, MatRef<Scalar> s, Cache* cache) const;

  // Given the cotangent gs of s (N x TB): grad_z += (ds/dz)^T gs (N x TB,
  // ACCUMULATES); if grad_params is non-null, its blocks += (ds/dtheta)^T gs
  // (ACCUMULATES, same layout as params.Flat()).
  void Backward(const ParameterSet<Scalar>& params, const Cache& cache, ConstMatRef<Scalar> gs,
                MatRef<Scalar> grad_z, VecRef<Scalar>* grad_params) const;

  // Wq_h = Wk_h = c G_h / sqrt(d) with G_h ~ N(0,1) (d x N, the same draw for
  // queries and keys) and c^2 = logit_scale sqrt(d) / N, so that at
  // initialisation L_{t,tau} ~ logit_scale * cos(z_t, z_tau) (random
  // projections preserve inner products); Wv_h = value_scale I / H.
  void Initialize(ParameterSet<Scalar>& params, Rng& rng, double logit_scale = 5.0,
                  double value_scale = 1.0) const;

 private:
  SequenceAttentionConfig config_;
  std::vector<Index> wq_, wk_, wv_;  // block indices per head
};

}  // namespace implicit
