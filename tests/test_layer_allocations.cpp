// No heap allocation inside the layer loop (issue 5's performance work):
// counted with the malloc interposer (core/memory_tracker.hpp, linked into
// this executable), which sees every allocation (Eigen's, std::vector's,
// operator new's) — a stricter check than EIGEN_RUNTIME_NO_MALLOC, which only
// sees Eigen's own and would need the libraries rebuilt with the macro.
//  * Forward of an unrolled LISTA / ALISTA network: the allocation count of a
//    call does not depend on the depth (the network's two ping-pong buffers
//    are allocated once per call, the layers allocate nothing).
//  * Repeated VJPs on one layer linearisation (the DEQ adjoint solve's inner
//    loop) allocate nothing after the first.
//  * Adam's fused step allocates nothing.
#include "core/data.hpp"
#include "core/memory_tracker.hpp"
#include "core/optimizers.hpp"
#include "unfolding/lista.hpp"
#include "unfolding/prox_gradient.hpp"
#include "unfolding/unrolled_network.hpp"

#include <doctest/doctest.h>

using namespace implicit;

namespace {

constexpr Index kN = 40, kM = 20, kBatch = 8;

long long Allocations() { return CurrentHeapStats().allocations; }

std::unique_ptr<UnrolledNetwork<float>> Lista(Index depth, Rng& rng) {
  std::vector<std::unique_ptr<Operator<float>>> layers;
  for (Index k = 0; k < depth; ++k) {
    auto layer = std::make_unique<ListaLayer<float>>(ListaLayerConfig{kN, kM, true});
    layer->InitializeRandom(rng, 0.05, 0.01);
    layers.push_back(std::move(layer));
  }
  return std::make_unique<UnrolledNetwork<float>>(std::move(layers));
}

std::unique_ptr<UnrolledNetwork<float>> Alista(Index depth, std::shared_ptr<const MatrixX<float>> a) {
  std::vector<std::unique_ptr<Operator<float>>> layers;
  ProxGradientConfig config;
  config.learn_weight = false;
  for (Index k = 0; k < depth; ++k) {
    layers.push_back(std::make_unique<ProxGradientLayer<float>>(a, a->transpose(), 0.2, 0.01, config));
  }
  return std::make_unique<UnrolledNetwork<float>>(std::move(layers));
}

// Allocations of one Forward call after a warm-up call.
long long ForwardAllocations(const Operator<float>& net, const MatrixX<float>& b) {
  const MatrixX<float> z0 = MatrixX<float>::Zero(kN, kBatch);
  MatrixX<float> out(kN, kBatch);
  net.Forward(z0, b, out);
  const long long before = Allocations();
  net.Forward(z0, b, out);
  return Allocations() - before;
}

}  // namespace

TEST_CASE("unrolled LISTA and ALISTA Forward allocate nothing per layer") {
  if (!MemoryTrackerEnabled()) {
    MESSAGE("heap counter not active (valgrind?): skipped");
    return;
  }
  Rng rng(11);
  auto a = std::make_shared<const MatrixX<float>>(GaussianMeasurementMatrix<float>(kM, kN, rng));
  const MatrixX<float> b = StandardGaussianMatrix<float>(kM, kBatch, rng);
  const long long lista2 = ForwardAllocations(*Lista(2, rng), b);
  const long long lista8 = ForwardAllocations(*Lista(8, rng), b);
  CHECK(lista8 == lista2);
  CHECK(lista2 <= 2);  // the network's two ping-pong buffers
  const long long alista2 = ForwardAllocations(*Alista(2, a), b);
  const long long alista8 = ForwardAllocations(*Alista(8, a), b);
  CHECK(alista8 == alista2);
  CHECK(alista2 <= 2);
}

TEST_CASE("repeated VJPs on one layer linearisation allocate nothing") {
  if (!MemoryTrackerEnabled()) return;
  Rng rng(12);
  auto a = std::make_shared<const MatrixX<float>>(GaussianMeasurementMatrix<float>(kM, kN, rng));
  const MatrixX<float> z = StandardGaussianMatrix<float>(kN, kBatch, rng);
  const MatrixX<float> b = StandardGaussianMatrix<float>(kM, kBatch, rng);
  const MatrixX<float> g = StandardGaussianMatrix<float>(kN, kBatch, rng);
  MatrixX<float> gz(kN, kBatch);
  ListaLayer<float> lista(ListaLayerConfig{kN, kM, true});
  lista.InitializeRandom(rng, 0.05, 0.01);
  ProxGradientLayer<float> prox(a, a->transpose(), 0.2, 0.01);
  for (const Operator<float>* op : {static_cast<const Operator<float>*>(&lista), static_cast<const Operator<float>*>(&prox)}) {
    const auto lin = op->Linearize(z, b);
    VectorX<float> grad = VectorX<float>::Zero(op->parameters().size());
    lin->VjpState(g, gz);
    lin->VjpParams(g, grad);
    const long long before = Allocations();
    for (int i = 0; i < 5; ++i) {
      lin->VjpState(g, gz);
      lin->VjpParams(g, grad);
    }
    const long long allocations = Allocations() - before;  // before doctest's message capture allocates
    CHECK_MESSAGE(allocations == 0, op->name());
  }
}

TEST_CASE("Adam's step allocates nothing") {
  if (!MemoryTrackerEnabled()) return;
  for (Index n : {Index(1000), Index(300000)}) {
    VectorX<float> p = VectorX<float>::Ones(n), g = VectorX<float>::Constant(n, 0.5f);
    Adam<float> adam(n, {});
    adam.Step(p, g);
    const long long before = Allocations();
    adam.Step(p, g);
    const long long allocations = Allocations() - before;
    CHECK(allocations == 0);
  }
}
