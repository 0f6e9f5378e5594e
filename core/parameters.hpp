// Named parameter blocks with one flat view.
//
// An operator declares its learnable tensors as named blocks (rows x cols,
// column-major). All blocks live in ONE contiguous vector, so optimisers,
// checkpoints and Ceres see a single flat parameter vector, while the operator
// reads its blocks as Eigen::Map views into it.
//
// Storage is either owned (the default) or bound to a range of a larger
// vector: an UnrolledNetwork binds each layer's ParameterSet to a segment of
// the network's own flat vector, so "all parameters of the network" is again
// one vector. Gradients use the same layout (same offsets) as the values.
#pragma once

#include "core/types.hpp"

#include <string>
#include <vector>

namespace implicit {

struct ParameterBlockInfo {
  std::string name;
  Index rows = 0;
  Index cols = 0;
  Index offset = 0;  // start of the block in the flat vector
  Index size() const { return rows * cols; }
};

template <typename Scalar>
class ParameterSet {
 public:
  ParameterSet() = default;
  // Not copyable: operators hand out views into the storage. Movable only
  // while owning (moving keeps the heap buffer, so views stay valid).
  ParameterSet(const ParameterSet&) = delete;
  ParameterSet& operator=(const ParameterSet&) = delete;
  ParameterSet(ParameterSet&&) noexcept = default;
  ParameterSet& operator=(ParameterSet&&) noexcept = default;

  // Declares a block (zero-initialised) and returns its index. Names must be
  // unique within the set.
  Index AddBlock(const std::string& name, Index rows, Index cols);

  Index num_blocks() const { return static_cast<Index>(blocks_.size()); }
  Index size() const { return size_; }
  const std::vector<ParameterBlockInfo>& blocks() const { return blocks_; }
  const ParameterBlockInfo& info(Index block) const;
  // Index of the block called `name`; throws Error if absent.
  Index Find(const std::string& name) const;

  // rows x cols view of one block.
  Eigen::Map<MatrixX<Scalar>> Block(Index block);
  Eigen::Map<const MatrixX<Scalar>> Block(Index block) const;
  // The whole parameter vector.
  Eigen::Map<VectorX<Scalar>> Flat();
  Eigen::Map<const VectorX<Scalar>> Flat() const;
  // The part of a flat gradient vector (same layout) that belongs to `block`.
  static Eigen::Map<MatrixX<Scalar>> BlockOf(VecRef<Scalar> flat, const ParameterBlockInfo& info);

  // Moves storage to external memory of size() scalars (copying current
  // values). The caller keeps that memory alive and unmoved while this set is
  // used. Used by containers that want one flat vector over many operators.
  void BindTo(Scalar* external);
  // Binds each block separately (block_storage[i] holds block i's
  // rows x cols values), copying current values. Lets a container share one
  // block between several operators (TiLISTA's shared W). After this the
  // parameters are no longer contiguous: Flat() throws.
  void BindBlocks(const std::vector<Scalar*>& block_storage);
  bool is_bound() const { return external_ != nullptr || !block_storage_.empty(); }
  bool is_contiguous() const { return block_storage_.empty(); }

 private:
  Scalar* data();
  const Scalar* data() const;

  std::vector<ParameterBlockInfo> blocks_;
  Index size_ = 0;
  VectorX<Scalar> owned_;
  Scalar* external_ = nullptr;  // non-owning; set by BindTo
  std::vector<Scalar*> block_storage_;  // non-owning; set by BindBlocks
};

}  // namespace implicit
