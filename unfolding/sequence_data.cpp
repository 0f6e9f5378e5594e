#include "unfolding/sequence_data.hpp"

#include "core/data.hpp"
#include "core/npy.hpp"

#include <cmath>
#include <vector>

namespace implicit {

bool SequenceOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = "sequence options: " + message;
    return false;
  };
  if (signal_dim < 1) return fail("signal_dim must be >= 1");
  if (frames < 1) return fail("frames must be >= 1");
  if (sparsity < 0 || sparsity > signal_dim) return fail("sparsity must be in [0, signal_dim]");
  if (!(drift >= 0.0 && drift <= 1.0)) return fail("drift must be in [0, 1]");
  if (!(shift >= 0.0 && shift <= 1.0)) return fail("shift must be in [0, 1]");
  if (!(amplitude_correlation >= 0.0 && amplitude_correlation <= 1.0)) {
    return fail("amplitude_correlation must be in [0, 1]");
  }
  return true;
}

namespace {

double NonZeroNormal(Rng& rng) {
  for (;;) {
    const double v = std::normal_distribution<double>(0.0, 1.0)(rng);
    if (v != 0.0) return v;
  }
}

}  // namespace

template <typename Scalar>
MatrixX<Scalar> GenerateSequences(const SequenceOptions& o, Index count, Rng& rng) {
  std::string error;
  if (!o.IsValid(&error)) throw Error("GenerateSequences: " + error);
  if (count < 0) throw Error("GenerateSequences: count must be >= 0");
  const Index n = o.signal_dim, t_len = o.frames, k = o.sparsity;
  MatrixX<Scalar> x = MatrixX<Scalar>::Zero(n * t_len, count);
  std::vector<Index> index(static_cast<size_t>(n)), support(static_cast<size_t>(k));
  std::vector<double> amp(static_cast<size_t>(k));
  std::vector<char> used(static_cast<size_t>(n));
  const double rho = o.amplitude_correlation, innovation = std::sqrt(1.0 - rho * rho);
  for (Index s = 0; s < count; ++s) {
    for (Index i = 0; i < n; ++i) index[static_cast<size_t>(i)] = i;
    std::fill(used.begin(), used.end(), 0);
    for (Index c = 0; c < k; ++c) {
      const Index pick = std::uniform_int_distribution<Index>(c, n - 1)(rng);
      std::swap(index[static_cast<size_t>(c)], index[static_cast<size_t>(pick)]);
      support[static_cast<size_t>(c)] = index[static_cast<size_t>(c)];
      used[static_cast<size_t>(index[static_cast<size_t>(c)])] = 1;
    }
    for (Index c = 0; c < k; ++c) amp[static_cast<size_t>(c)] = NonZeroNormal(rng);
    for (Index t = 0; t < t_len; ++t) {
      if (t > 0) {
        for (Index c = 0; c < k; ++c) {
          const auto cc = static_cast<size_t>(c);
          const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
          if (u < o.drift) {
            // A new component at a free index (k < n guarantees one; k == n: stay).
            if (k < n) {
              Index pos = 0;
              do {
                pos = std::uniform_int_distribution<Index>(0, n - 1)(rng);
              } while (used[static_cast<size_t>(pos)] != 0);
              used[static_cast<size_t>(support[cc])] = 0;
              used[static_cast<size_t>(pos)] = 1;
              support[cc] = pos;
            }
            amp[cc] = NonZeroNormal(rng);
            continue;
          }
          if (o.shift > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng) < o.shift) {
            const Index step = std::uniform_int_distribution<int>(0, 1)(rng) == 0 ? -1 : 1;
            const Index pos = (support[cc] + step + n) % n;
            if (used[static_cast<size_t>(pos)] == 0) {
              used[static_cast<size_t>(support[cc])] = 0;
              used[static_cast<size_t>(pos)] = 1;
              support[cc] = pos;
            }
          }
          double a = rho * amp[cc] + innovation * std::normal_distribution<double>(0.0, 1.0)(rng);
          while (a == 0.0) a = NonZeroNormal(rng);
          amp[cc] = a;
        }
      }
      for (Index c = 0; c < k; ++c) {
        x(t * n + support[static_cast<size_t>(c)], s) = static_cast<Scalar>(amp[static_cast<size_t>(c)]);
      }
    }
  }
  return x;
}

template <typename Scalar>
MatrixX<Scalar> SequencesToFrames(ConstMatRef<Scalar> x, Index frames) {
  if (frames < 1 || x.rows() % frames != 0) {
    throw Error("SequencesToFrames: " + std::to_string(x.rows()) + " rows is not a multiple of " +
                std::to_string(frames) + " frames");
  }
  const Index r = x.rows() / frames;
  MatrixX<Scalar> f(r, frames * x.cols());
  for (Index j = 0; j < x.cols(); ++j) {
    Eigen::Map<VectorX<Scalar>>(f.data() + j * x.rows(), x.rows()) = x.col(j);
  }
  return f;
}

template <typename Scalar>
MatrixX<Scalar> FramesToSequences(ConstMatRef<Scalar> f, Index frames) {
  if (frames < 1 || f.cols() % frames != 0) {
    throw Error("FramesToSequences: " + std::to_string(f.cols()) + " columns is not a multiple of " +
                std::to_string(frames) + " frames");
  }
  const Index rows = f.rows() * frames, count = f.cols() / frames;
  MatrixX<Scalar> x(rows, count);
  const MatrixX<Scalar> dense = f;
  for (Index j = 0; j < count; ++j) x.col(j) = Eigen::Map<const VectorX<Scalar>>(dense.data() + j * rows, rows);
  return x;
}

template <typename Scalar>
MatrixX<Scalar> MeasureSequences(ConstMatRef<Scalar> a, ConstMatRef<Scalar> x, Index frames, double snr_db, Rng& rng) {
  if (frames < 1 || x.rows() != a.cols() * frames) {
    throw Error("MeasureSequences: sequences have " + std::to_string(x.rows()) + " rows, expected N*T = " +
                std::to_string(a.cols()) + "*" + std::to_string(frames));
  }
  const MatrixX<Scalar> xf = SequencesToFrames<Scalar>(x, frames);
  MatrixX<Scalar> bf(a.rows(), xf.cols());
  bf.noalias() = a * xf;
  if (std::isfinite(snr_db)) AddNoiseAtSnr<Scalar>(bf, snr_db, rng);
  return FramesToSequences<Scalar>(bf, frames);
}

template <typename Scalar>
MatrixX<Scalar> ReadSequencesNpy(const std::string& path, Index expected_signal_dim, Index expected_frames) {
  NpyArray<Scalar> array = ReadNpy<Scalar>(path);
  auto shape_text = [&] {
    std::string s = "(";
    for (size_t i = 0; i < array.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(array.shape[i]);
    return s + ")";
  };
  if (array.shape.size() != 3) {
    throw Error(path + ": expected a 3-D array of shape (N, T, S) (signal size, frames, sequences), got shape " +
                shape_text());
  }
  const Index n = array.shape[0], t_len = array.shape[1], count = array.shape[2];
  if (expected_signal_dim > 0 && n != expected_signal_dim) {
    throw Error(path + ": shape " + shape_text() + " has N = " + std::to_string(n) + ", expected N = " +
                std::to_string(expected_signal_dim) + " (the measurement matrix's columns)");
  }
  if (expected_frames > 0 && t_len != expected_frames) {
    throw Error(path + ": shape " + shape_text() + " has T = " + std::to_string(t_len) + " frames, expected " +
                std::to_string(expected_frames));
  }
  if (n < 1 || t_len < 1 || count < 1) throw Error(path + ": empty array of shape " + shape_text());
  // Fortran order (x[i, t, s] at i + N t + N T s) is exactly the (N*T) x S matrix.
  const Eigen::Map<const MatrixX<Scalar>> x(array.data.data(), n * t_len, count);
  for (Index s = 0; s < count; ++s) {
    for (Index r = 0; r < n * t_len; ++r) {
      if (!std::isfinite(static_cast<double>(x(r, s)))) {
        throw Error(path + ": non-finite value at [" + std::to_string(r % n) + ", " + std::to_string(r / n) + ", " +
                    std::to_string(s) + "]");
      }
    }
  }
  return x;
}

#define IMPLICIT_INSTANTIATE(S)                                                                          \
  template MatrixX<S> GenerateSequences<S>(const SequenceOptions&, Index, Rng&);                          \
  template MatrixX<S> MeasureSequences<S>(ConstMatRef<S>, ConstMatRef<S>, Index, double, Rng&);           \
  template MatrixX<S> ReadSequencesNpy<S>(const std::string&, Index, Index);                             \
  template MatrixX<S> SequencesToFrames<S>(ConstMatRef<S>, Index);                                        \
  template MatrixX<S> FramesToSequences<S>(ConstMatRef<S>, Index);
IMPLICIT_INSTANTIATE(float)
IMPLICIT_INSTANTIATE(double)
#undef IMPLICIT_INSTANTIATE

}  // namespace implicit
