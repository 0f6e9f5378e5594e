#include "experiments/common/sparse_models.hpp"

#include "core/results.hpp"
#include "unfolding/admm.hpp"
#include "unfolding/alista.hpp"
#include "unfolding/lista.hpp"
#include "unfolding/prox_gradient.hpp"

#include <algorithm>
#include <cmath>

namespace implicit {

double SupportPercent(const SparseModelConfig& config, Index layer) {
  return std::min(static_cast<double>(layer) * config.support_p, config.support_p_max);
}

bool IsLearnedSparseModel(const std::string& model) {
  static const std::vector<std::string> known{"lista", "lista-ss", "lista-cp", "lista-cpss", "tilista", "alista", "slista", "admm"};
  return std::find(known.begin(), known.end(), model) != known.end();
}

template <typename Scalar>
std::unique_ptr<UnrolledNetwork<Scalar>> BuildSparseModel(const SparseModelConfig& o,
                                                          std::shared_ptr<const MatrixX<Scalar>> a_ptr,
                                                          double lipschitz) {
  const MatrixX<Scalar>& a = *a_ptr;
  const Index n = a.cols(), m = a.rows();
  const double inv_l = 1.0 / lipschitz;
  std::vector<std::unique_ptr<Operator<Scalar>>> layers;
  std::vector<std::string> shared;
  MatrixX<Scalar> analytic;
  std::shared_ptr<const AdmmFactorization<Scalar>> factorization;
  if (o.model == "alista") analytic = AnalyticWeight<Scalar>(a).transpose();  // n x m
  if (o.model == "admm") factorization = AdmmLayer<Scalar>::Factorize(a);
  for (Index k = 1; k <= o.layers; ++k) {
    const double ss = SupportPercent(o, k);
    if (o.model == "lista" || o.model == "lista-ss") {
      auto layer = std::make_unique<ListaLayer<Scalar>>(ListaLayerConfig{n, m, false, o.model == "lista-ss" ? ss : 0.0});
      layer->InitializeFromIsta(a, lipschitz, o.lambda);
      layers.push_back(std::move(layer));
    } else if (o.model == "lista-cp" || o.model == "lista-cpss" || o.model == "tilista") {
      const double percent = o.model == "lista-cp" ? 0.0 : ss;
      layers.push_back(std::make_unique<ProxGradientLayer<Scalar>>(a_ptr, a.transpose(), inv_l, o.lambda * inv_l,
                                                                   ProxGradientConfig{true, percent}));
      if (o.model == "tilista") shared = {"W"};
    } else if (o.model == "alista") {
      // diag(W^T A) = 1, so gamma ~ 1 is ISTA's step in the rescaled coordinates.
      layers.push_back(std::make_unique<ProxGradientLayer<Scalar>>(a_ptr, analytic, 1.0, o.lambda * inv_l,
                                                                   ProxGradientConfig{false, ss}));
    } else if (o.model == "slista") {
      // Step-LISTA (Ablin, Moreau, Massias, Gramfort, "Learning step sizes for
      // unfolded sparse coding", NeurIPS 2019): W = A fixed, so each layer is a
      // gradient step on 1/2 ||A z - b||^2 with a learned step (ISTA's 1/L at
      // init) followed by a learned threshold; untied thresholds and support
      // selection as in ALISTA. Its direction is the objective's own gradient,
      // which makes it the natural model for descent-constrained training.
      layers.push_back(std::make_unique<ProxGradientLayer<Scalar>>(a_ptr, a.transpose(), inv_l, o.lambda * inv_l,
                                                                   ProxGradientConfig{false, ss}));
    } else if (o.model == "admm") {
      layers.push_back(AdmmLayer<Scalar>::ForLasso(factorization, o.lambda, 1.0));
    } else {
      throw Error("--model: unknown model '" + o.model + "'");
    }
  }
  return std::make_unique<UnrolledNetwork<Scalar>>(std::move(layers), shared);
}

template <typename Scalar>
std::string LoadedSparseModel<Scalar>::ConfigValue(const std::string& key, const std::string& fallback) const {
  for (const auto& [k, v] : checkpoint.config) {
    if (k == key) return v;
  }
  return fallback;
}

SparseModelConfig SparseModelConfigFromPairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                             const std::string& source) {
  auto value = [&](const std::string& key) -> const std::string& {
    for (const auto& [k, v] : pairs) {
      if (k == key) return v;
    }
    throw Error(source + ": checkpoint configuration has no '" + key + "' (not a sparse-recovery model checkpoint)");
  };
  auto number = [&](const std::string& key) {
    const std::string& text = value(key);
    try {
      size_t used = 0;
      const double v = std::stod(text, &used);
      if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    throw Error(source + ": checkpoint configuration '" + key + "' = '" + text + "' is not a number");
  };
  SparseModelConfig c;
  c.model = value("model");
  const double layers = number("layers");
  if (!(layers >= 1 && layers == std::floor(layers))) {
    throw Error(source + ": checkpoint configuration 'layers' must be a positive integer");
  }
  c.layers = static_cast<Index>(layers);
  c.lambda = number("lambda");
  c.support_p = number("support_p");
  c.support_p_max = number("support_p_max");
  if (!IsLearnedSparseModel(c.model)) {
    throw Error(source + ": checkpoint model '" + c.model + "' is not a learned LISTA-family model");
  }
  return c;
}

template <typename Scalar>
LoadedSparseModel<Scalar> LoadSparseModel(const std::string& path, std::shared_ptr<const MatrixX<Scalar>> a,
                                          double lipschitz) {
  LoadedSparseModel<Scalar> loaded;
  loaded.checkpoint = LoadCheckpoint<Scalar>(path);
  loaded.config = SparseModelConfigFromPairs(loaded.checkpoint.config, path);
  loaded.net = BuildSparseModel<Scalar>(loaded.config, std::move(a), lipschitz);
  RestoreParameters(loaded.checkpoint, loaded.net->parameters());
  return loaded;
}

#define IMPLICIT_INSTANTIATE(S)                                                                             \
  template std::unique_ptr<UnrolledNetwork<S>> BuildSparseModel<S>(const SparseModelConfig&,                \
                                                                   std::shared_ptr<const MatrixX<S>>, double); \
  template struct LoadedSparseModel<S>;                                                                     \
  template LoadedSparseModel<S> LoadSparseModel<S>(const std::string&, std::shared_ptr<const MatrixX<S>>, double);
IMPLICIT_INSTANTIATE(float)
IMPLICIT_INSTANTIATE(double)
#undef IMPLICIT_INSTANTIATE

}  // namespace implicit
