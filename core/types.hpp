// Scalar-generic Eigen aliases and the project's error type.
//
// Conventions used throughout the project (see docs/ARCHITECTURE.md):
//  * One sample per COLUMN: a batch of states is state_dim x batch, so that
//    X.col(j) is a contiguous, copy-free view of sample j (Eigen is column-major).
//  * Functions take `ConstMatRef<S>` for inputs and `MatRef<S>` for outputs that
//    the caller has already sized ("Writing functions taking Eigen types").
//  * Every numeric class/function is a template on Scalar, explicitly instantiated
//    for float (training, benchmarks) and double (gradient checks).
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>

namespace implicit {

using Index = Eigen::Index;

template <typename Scalar>
using MatrixX = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <typename Scalar>
using VectorX = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
template <typename Scalar>
using RowVectorX = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

// Read-only view of any dense matrix expression with inner stride 1 (a
// matrix, a block of columns, a Map...). Binds to temporaries as well.
template <typename Scalar>
using ConstMatRef = const Eigen::Ref<const MatrixX<Scalar>>&;
// Writable view of caller-owned, caller-sized storage.
template <typename Scalar>
using MatRef = Eigen::Ref<MatrixX<Scalar>>;
template <typename Scalar>
using ConstVecRef = const Eigen::Ref<const VectorX<Scalar>>&;
template <typename Scalar>
using VecRef = Eigen::Ref<VectorX<Scalar>>;

// All project errors (bad shapes, bad files, bad options) are reported with
// this type; binaries turn it into a message and a non-zero exit code.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The project's random engine. Every generator takes one by reference so a
// run is reproducible from its --seed alone.
using Rng = std::mt19937_64;

// Throws Error("<what>: expected RxC, got rxc") unless m has the given shape.
template <typename Derived>
void RequireShape(const Eigen::DenseBase<Derived>& m, Index rows, Index cols,
                  const std::string& what) {
  if (m.rows() != rows || m.cols() != cols) {
    throw Error(what + ": expected shape " + std::to_string(rows) + "x" +
                std::to_string(cols) + ", got " + std::to_string(m.rows()) + "x" +
                std::to_string(m.cols()));
  }
}

// Throws Error naming `what` and the first bad entry if m has NaN or Inf.
template <typename Derived>
void RequireFinite(const Eigen::DenseBase<Derived>& m, const std::string& what) {
  for (Index j = 0; j < m.cols(); ++j) {
    for (Index i = 0; i < m.rows(); ++i) {
      if (!std::isfinite(static_cast<double>(m(i, j)))) {
        throw Error(what + ": non-finite value at (" + std::to_string(i) + ", " +
                    std::to_string(j) + ")");
      }
    }
  }
}

}  // namespace implicit
