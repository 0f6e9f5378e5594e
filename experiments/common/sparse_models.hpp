// The LISTA-family models of the sparse-recovery experiments, built from a
// small configuration and restored from sparse_recovery's checkpoints, shared
// by sparse_recovery (training), descent_constrained and robustness
// (evaluation of trained checkpoints under distribution shifts).
//
// A model is an UnrolledNetwork of K operator layers on the measurement
// matrix A (m x n): state z (n x B), input b (m x B).
//   lista, lista-ss  ListaLayer soft(W1 b + W2 z, theta) (unfolding/lista.hpp)
//   lista-cp(ss)     ProxGradientLayer soft(z + gamma W (b - A z), theta), W learned
//   slista           the same with W = A^T fixed (Step-LISTA), gamma, theta learned
//   tilista          the same with one W shared by all layers
//   alista           W = ALISTA's analytic weight of A (fixed), gamma, theta learned
//   admm             unrolled ADMM (unfolding/admm.hpp), state [z; u], readout z
// Everything that is a FUNCTION of A (the matrix inside prox-gradient layers,
// ALISTA's analytic weight, ADMM's factorisation) is built from the matrix
// passed in; learned numbers come from the checkpoint. So building a model
// with a different A and restoring a checkpoint gives "the trained network
// applied to a new matrix" (used by robustness's condition-number shift).
#pragma once

#include "core/checkpoint.hpp"
#include "core/types.hpp"
#include "unfolding/unrolled_network.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace implicit {

struct SparseModelConfig {
  std::string model = "alista";  // see above
  Index layers = 16;             // K
  double lambda = 0.4;           // ISTA-style initialisation: theta = lambda / L
  double support_p = 1.2;        // support selection: percent added per layer
  double support_p_max = 13.0;   // support selection: maximum percent
};

// Support-selection percentage of layer k (1-based): min(k * p, p_max).
double SupportPercent(const SparseModelConfig& config, Index layer);

// True for the models BuildSparseModel knows (not ista / fista).
bool IsLearnedSparseModel(const std::string& model);

// Builds the untrained model (ISTA-style initialisation) on A (m x n) with
// lipschitz = L (>= ||A||_2^2, the 1/L step). Throws Error("--model: unknown
// model '<name>'") for an unknown model name.
template <typename Scalar>
std::unique_ptr<UnrolledNetwork<Scalar>> BuildSparseModel(const SparseModelConfig& config,
                                                          std::shared_ptr<const MatrixX<Scalar>> a,
                                                          double lipschitz);

// A model restored from a checkpoint written by sparse_recovery (or
// descent_constrained, which uses the same layout).
template <typename Scalar>
struct LoadedSparseModel {
  SparseModelConfig config;
  std::unique_ptr<UnrolledNetwork<Scalar>> net;
  Checkpoint<Scalar> checkpoint;  // everything else in the file (config pairs, trainer state)
  // The checkpoint's configuration value for `key`, or `fallback` if absent.
  std::string ConfigValue(const std::string& key, const std::string& fallback = "") const;
};

// Reads the model configuration (keys model, layers, lambda, support_p,
// support_p_max) from a checkpoint's configuration pairs. Throws Error naming
// `source` and the key when one is missing or malformed.
SparseModelConfig SparseModelConfigFromPairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                             const std::string& source);

// Loads `path`, builds the model on `a` and restores its parameters (layout
// checked by RestoreParameters). Errors name the file.
template <typename Scalar>
LoadedSparseModel<Scalar> LoadSparseModel(const std::string& path, std::shared_ptr<const MatrixX<Scalar>> a,
                                          double lipschitz);

}  // namespace implicit
