// Correlated sparse sequences for the DUST experiments (unfolding/dust.hpp,
// experiments/sequence_recovery.cpp): T frames x_1..x_T in R^N per sequence,
// each k-sparse, with supports that drift slowly, amplitudes that change
// smoothly, and occasional new components (the video-like setting of
// De Weerdt, Eldar, Deligiannis, IEEE TSP 72, 2024).
//
// Layout: one sequence per COLUMN of an (N*T) x S matrix, frame-major (rows
// [t*N, (t+1)*N) are x_t). The same memory is the N x (T*S) matrix of all
// frames (column t + T*s is frame t of sequence s), which is what frame-by-
// frame models (LISTA, FISTA) see.
//
// Generative law, per sequence (draw order: sequences in turn; inside one,
// frame 0 then frame by frame):
//   frame 0: k distinct indices uniformly at random (partial Fisher-Yates),
//            amplitudes a ~ N(0, 1)
//   frame t -> t+1, for each of the k components in turn:
//     with probability `drift`: it is REPLACED by a new component at a
//            uniformly random index not in the support, with a fresh N(0,1)
//            amplitude (the occasional new component / support drift);
//     else, with probability `shift`: it moves to index i - 1 or i + 1
//            (equally likely, cyclic; kept if that index is taken);
//     its amplitude evolves as a <- rho a + sqrt(1 - rho^2) w, w ~ N(0,1)
//            (rho = amplitude_correlation; N(0,1) is stationary).
//   drift = 1 makes the frames independent (uncorrelated sequences).
// Every amplitude that is exactly 0 is redrawn, so each frame has exactly k
// non-zeros.
//
// The .npy format for user sequences: a float32/float64 array of shape
// (N, T, S) (x[i, t, s] = entry i of frame t of sequence s), C or Fortran
// order; read with ReadSequencesNpy.
#pragma once

#include "core/types.hpp"

#include <string>

namespace implicit {

struct SequenceOptions {
  Index signal_dim = 100;              // N
  Index frames = 8;                    // T
  Index sparsity = 8;                  // k non-zeros per frame, 0 <= k <= N
  double drift = 0.1;                  // per-frame replacement probability per component, in [0, 1]
  double shift = 0.0;                  // per-frame +-1 index move probability, in [0, 1]
  double amplitude_correlation = 0.95; // rho in [0, 1]
  bool IsValid(std::string* error) const;
};

// (N*T) x count sequences (see the law above).
template <typename Scalar>
MatrixX<Scalar> GenerateSequences(const SequenceOptions& options, Index count, Rng& rng);

// b = A x_t (+ white noise at snr_db per frame, AddNoiseAtSnr; snr_db = inf:
// no noise and no draws) for every frame: x (N*T) x S -> b (M*T) x S.
template <typename Scalar>
MatrixX<Scalar> MeasureSequences(ConstMatRef<Scalar> a, ConstMatRef<Scalar> x, Index frames, double snr_db, Rng& rng);

// Reads an (N, T, S) .npy array as an (N*T) x S matrix. Errors (naming the
// file): not 3-D, N or T different from the expected values (when > 0),
// S == 0, any non-finite value.
template <typename Scalar>
MatrixX<Scalar> ReadSequencesNpy(const std::string& path, Index expected_signal_dim, Index expected_frames);

// Views an (R*T) x S sequence matrix as the R x (T*S) matrix of its frames
// (a copy; any outer stride).
template <typename Scalar>
MatrixX<Scalar> SequencesToFrames(ConstMatRef<Scalar> x, Index frames);
// The inverse: R x (T*S) frames -> (R*T) x S.
template <typename Scalar>
MatrixX<Scalar> FramesToSequences(ConstMatRef<Scalar> f, Index frames);

}  // namespace implicit
