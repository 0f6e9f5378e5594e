// Reading and writing NumPy .npy files.
//
// Why: the shared benchmark data (data/alista/*.npy: the measurement matrix A,
// 250 x 500 float64, and the test signals X, 500 x 1000 float32) is stored as
// .npy, and results/checkpoints written as .npy can be inspected with NumPy
// directly. Only what the project needs is supported: float32 and float64
// little-endian arrays of any rank, in C or Fortran order, format versions
// 1.0, 2.0 and 3.0 (the format is documented in numpy/lib/format.py).
//
// What: arrays are always held in Fortran (column-major) order in memory,
// whatever the file's order, so a 2-D array of shape (rows, cols) maps
// directly onto MatrixX<Scalar>(rows, cols). With the project's one-sample-
// per-column convention, a file holding n-dimensional samples must therefore
// have shape (n, num_samples) (as xtest_n500_p10.npy does: 500 x 1000).
//
// Every failure (missing file, corrupt or truncated file, unsupported dtype,
// wrong rank) throws implicit::Error with a message starting with the file
// path. A corrupt header can never make the reader allocate more memory than
// the file actually holds. NaN/Inf values are read and written as they are;
// callers that need finite data check with RequireFinite.
#pragma once

#include "core/types.hpp"

#include <string>
#include <vector>

namespace implicit {

// An N-d array read from / written to .npy. Data is stored in Fortran
// (column-major) order regardless of the file's order, so a 2-D array maps
// directly onto an Eigen column-major matrix.
template <typename Scalar>
struct NpyArray {
  std::vector<Index> shape;  // as in the file, e.g. {250, 500}; {} for a 0-d array
  std::vector<Scalar> data;  // column-major (Fortran order), size = product of shape
};

// Reads any supported .npy (dtypes '<f4' and '<f8', plus '|f4'-style
// endianness markers equivalent to little-endian on this machine;
// fortran_order True or False; format versions 1.0, 2.0, 3.0; 0-d to N-d),
// converting values to Scalar.
template <typename Scalar>
NpyArray<Scalar> ReadNpy(const std::string& path);

// Reads a 1-D (-> n x 1) or 2-D (-> shape[0] x shape[1]) array as a matrix.
// Other ranks: Error.
template <typename Scalar>
MatrixX<Scalar> ReadNpyMatrix(const std::string& path);

// Writes a matrix as a 2-D array with dtype '<f4' (float) or '<f8' (double).
// fortran_order=true writes the column-major buffer directly; false writes C
// order (transposed traversal). Writing is atomic: write to "<path>.tmp.<pid>"
// then std::filesystem::rename, so no half-written file survives a crash.
template <typename Scalar>
void WriteNpy(const std::string& path, ConstMatRef<Scalar> m, bool fortran_order = true);

// Writes an N-d array (data column-major as in NpyArray). Error if
// data.size() is not the product of shape or a shape entry is negative.
template <typename Scalar>
void WriteNpy(const std::string& path, const NpyArray<Scalar>& array,
              bool fortran_order = true);

}  // namespace implicit
