// Small allocation-free kernels shared by the layers' hot paths (LISTA,
// prox-gradient): internal to unfolding/*.cpp.
#pragma once

#include "core/types.hpp"

namespace implicit::detail {

// RequireShape builds its message argument (a std::string) on every call;
// on the hot path check first and build the message only on a mismatch.
template <typename Derived>
void CheckShape(const Eigen::DenseBase<Derived>& m, Index rows, Index cols, const char* what) {
  if (m.rows() != rows || m.cols() != cols) RequireShape(m, rows, cols, what);
}

// In-place plain soft threshold, SoftThreshold::Apply's formula (u - clamp(u, -t, t),
// vectorised) without its std::string shape-check arguments (no allocation).
// theta: a scalar or an n-vector (per coordinate); out: n x B.
template <typename Scalar, typename Theta>
void SoftInPlace(MatRef<Scalar> out, const Theta& theta) {
  for (Index j = 0; j < out.cols(); ++j) out.col(j) = out.col(j) - out.col(j).cwiseMax(-theta).cwiseMin(theta);
}

}  // namespace implicit::detail
