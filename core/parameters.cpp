#include "core/parameters.hpp"

#include <algorithm>

namespace implicit {

template <typename Scalar>
Index ParameterSet<Scalar>::AddBlock(const std::string& name, Index rows, Index cols) {
  if (rows < 0 || cols < 0) throw Error("parameter block '" + name + "': negative shape");
  if (is_bound()) throw Error("parameter block '" + name + "': cannot add blocks after binding");
  for (const ParameterBlockInfo& b : blocks_) {
    if (b.name == name) throw Error("parameter block '" + name + "' declared twice");
  }
  blocks_.push_back({name, rows, cols, size_});
  size_ += rows * cols;
  VectorX<Scalar> grown = VectorX<Scalar>::Zero(size_);
  grown.head(owned_.size()) = owned_;
  owned_.swap(grown);
  return static_cast<Index>(blocks_.size()) - 1;
}

template <typename Scalar>
const ParameterBlockInfo& ParameterSet<Scalar>::info(Index block) const {
  if (block < 0 || block >= num_blocks()) throw Error("parameter block index out of range");
  return blocks_[static_cast<size_t>(block)];
}

template <typename Scalar>
Index ParameterSet<Scalar>::Find(const std::string& name) const {
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (blocks_[i].name == name) return static_cast<Index>(i);
  }
  throw Error("no parameter block named '" + name + "'");
}

template <typename Scalar>
Scalar* ParameterSet<Scalar>::data() {
  return external_ != nullptr ? external_ : owned_.data();
}
template <typename Scalar>
const Scalar* ParameterSet<Scalar>::data() const {
  return external_ != nullptr ? external_ : owned_.data();
}

template <typename Scalar>
Eigen::Map<MatrixX<Scalar>> ParameterSet<Scalar>::Block(Index block) {
  const ParameterBlockInfo& b = info(block);
  if (!block_storage_.empty()) {
    return Eigen::Map<MatrixX<Scalar>>(block_storage_[static_cast<size_t>(block)], b.rows, b.cols);
  }
  return Eigen::Map<MatrixX<Scalar>>(data() + b.offset, b.rows, b.cols);
}
template <typename Scalar>
Eigen::Map<const MatrixX<Scalar>> ParameterSet<Scalar>::Block(Index block) const {
  const ParameterBlockInfo& b = info(block);
  if (!block_storage_.empty()) {
    return Eigen::Map<const MatrixX<Scalar>>(block_storage_[static_cast<size_t>(block)], b.rows, b.cols);
  }
  return Eigen::Map<const MatrixX<Scalar>>(data() + b.offset, b.rows, b.cols);
}
template <typename Scalar>
Eigen::Map<VectorX<Scalar>> ParameterSet<Scalar>::Flat() {
  if (!block_storage_.empty()) throw Error("parameter set is bound block by block: no flat view (use the container's)");
  return Eigen::Map<VectorX<Scalar>>(data(), size_);
}
template <typename Scalar>
Eigen::Map<const VectorX<Scalar>> ParameterSet<Scalar>::Flat() const {
  if (!block_storage_.empty()) throw Error("parameter set is bound block by block: no flat view (use the container's)");
  return Eigen::Map<const VectorX<Scalar>>(data(), size_);
}

template <typename Scalar>
void ParameterSet<Scalar>::BindBlocks(const std::vector<Scalar*>& block_storage) {
  if (static_cast<Index>(block_storage.size()) != num_blocks()) throw Error("ParameterSet::BindBlocks: wrong number of blocks");
  for (Index i = 0; i < num_blocks(); ++i) {
    Scalar* target = block_storage[static_cast<size_t>(i)];
    if (target == nullptr) throw Error("ParameterSet::BindBlocks: null storage for block '" + blocks_[static_cast<size_t>(i)].name + "'");
    const Eigen::Map<const MatrixX<Scalar>> current = static_cast<const ParameterSet&>(*this).Block(i);
    Eigen::Map<MatrixX<Scalar>>(target, current.rows(), current.cols()) = current;
  }
  block_storage_ = block_storage;
  external_ = nullptr;
  owned_.resize(0);
}
template <typename Scalar>
Eigen::Map<MatrixX<Scalar>> ParameterSet<Scalar>::BlockOf(VecRef<Scalar> flat,
                                                          const ParameterBlockInfo& b) {
  if (b.offset + b.size() > flat.size()) throw Error("gradient vector too short for block '" + b.name + "'");
  return Eigen::Map<MatrixX<Scalar>>(flat.data() + b.offset, b.rows, b.cols);
}

template <typename Scalar>
void ParameterSet<Scalar>::BindTo(Scalar* external) {
  if (external == nullptr) throw Error("ParameterSet::BindTo: null storage");
  if (!block_storage_.empty()) throw Error("ParameterSet::BindTo: already bound block by block");
  std::copy(data(), data() + size_, external);
  external_ = external;
  owned_.resize(0);
}

template class ParameterSet<float>;
template class ParameterSet<double>;

}  // namespace implicit
