// Synthetic data for sparse recovery: sparse codes, measurement matrices and
// measurement noise.
//
// Conventions (see core/types.hpp):
//  * One sample per COLUMN: codes are n x batch, measurements m x batch.
//  * Every generator draws from the Rng passed by reference, using
//    std::normal_distribution<double> / std::uniform_real_distribution<double> /
//    std::uniform_int_distribution<Index> (a fresh distribution object per
//    call) and converts the double draws to Scalar. Entries are visited in a
//    fixed, documented order (column by column, top to bottom inside a
//    column), so a result is a pure function of the Rng state: same seed ->
//    identical data, and float/double results come from the same double draws.
//    Note that the C++ standard fixes the output of std::mt19937_64 but not the
//    algorithms of the distributions, so bit-identical data is guaranteed for
//    a given standard library (libstdc++ here), not across libraries.
//  * Invalid arguments throw implicit::Error naming the function and argument.
#pragma once

#include "core/types.hpp"

namespace implicit {

// n x batch sparse codes; each entry is independently non-zero with
// probability p, non-zeros ~ N(0,1) (the LISTA/ALISTA benchmark law, p = 0.1).
// Draw order: column by column, row by row; per entry one U[0,1) draw u, and
// iff u < p one N(0,1) amplitude (redrawn in the probability-zero event that it
// is exactly 0 in Scalar, so the support is exactly the Bernoulli mask).
// Requires n >= 0, batch >= 0, p in [0, 1].
template <typename Scalar>
MatrixX<Scalar> BernoulliGaussian(Index n, Index batch, double p, Rng& rng);

// n x batch; exactly k non-zeros per column at distinct uniformly random
// positions, amplitudes ~ N(0,1) (the seed article's "pulses").
// Draw order, per column: the k positions by a partial Fisher-Yates shuffle of
// 0..n-1 (restarted from the identity for every column), then the k
// amplitudes in the order the positions were chosen (an amplitude that is
// exactly 0 in Scalar is redrawn, so there are exactly k non-zeros).
// Requires n >= 0, batch >= 0, 0 <= k <= n.
template <typename Scalar>
MatrixX<Scalar> Pulses(Index n, Index batch, Index k, Rng& rng);

// m x n with i.i.d. N(0,1) entries, drawn column by column (the seed article's
// unnormalised A = randn(M, N)). Requires m >= 0, n >= 0.
template <typename Scalar>
MatrixX<Scalar> StandardGaussianMatrix(Index m, Index n, Rng& rng);

struct MeasurementMatrixOptions {
  // Unit l2-norm columns (the benchmark convention). See the condition-number
  // mode below for how this flag is interpreted there.
  bool normalize_columns = true;
  // 0: whatever the Gaussian draw gives; >= 1: prescribed exactly (see below).
  double condition_number = 0.0;
};

// m x n measurement matrix. The draw is StandardGaussianMatrix(m, n)/sqrt(m),
// i.e. entries N(0, 1/m) (same Rng consumption as StandardGaussianMatrix).
// All processing is done in double and the result is cast to Scalar at the end.
//
// * condition_number == 0 (default): if normalize_columns, every column is
//   scaled to unit l2 norm (to rounding of Scalar); otherwise the N(0, 1/m)
//   draw is returned as is.
// * condition_number = kappa >= 1: the thin SVD U S V^T of the draw is taken,
//   the r = min(m, n) singular values are replaced by the geometric progression
//   s_i = s_max * kappa^(-i/(r-1)), i = 0..r-1 (s_max = largest singular value
//   of the draw), and the matrix is rebuilt as U S' V^T. If normalize_columns,
//   the WHOLE matrix is then scaled by one factor so that the mean squared
//   column norm (||A||_F^2 / n) is 1: the columns are only approximately unit
//   norm. Per-column normalisation is deliberately NOT applied in this mode,
//   because it would change the condition number. If !normalize_columns, no
//   rescaling is done. The 2-norm condition number s_max/s_min over the r
//   singular values equals kappa to ~1e-12 relative in double (Scalar = float
//   adds float rounding of the entries on top). With r == 1 only kappa == 1 is
//   achievable; any other kappa throws.
// Requires m >= 1, n >= 1, condition_number == 0 or a finite value >= 1.
template <typename Scalar>
MatrixX<Scalar> GaussianMeasurementMatrix(Index m, Index n, Rng& rng,
                                          const MeasurementMatrixOptions& options = {});

// Adds white Gaussian noise to each column b_j of b (m x batch) with
// std = std(b_j) * 10^(-snr_db/20), where std(b_j) is the population standard
// deviation (divide by m, about the column mean) of the entries of column j,
// computed in double (the ALISTA papers' convention). A column with zero std
// gets no noise. Draw order: column by column, m N(0,1) draws per column; the
// draws are made (and discarded) for zero-std columns too, so the Rng advances
// by exactly m * batch normal draws whatever the data.
// Requires a finite snr_db and finite b.
template <typename Scalar>
void AddNoiseAtSnr(MatRef<Scalar> b, double snr_db, Rng& rng);

// Adds sigma * N(0,1) noise to every entry, column by column (the seed
// article's b = Ax + 0.05 n). The draws are made even when sigma == 0, so the
// Rng advances by rows * cols normal draws for any sigma (and two calls from
// the same Rng state with different sigma add proportional noise).
// Requires a finite sigma >= 0.
template <typename Scalar>
void AddGaussianNoise(MatRef<Scalar> b, double sigma, Rng& rng);

// Estimate of ||A||_2^2 (the largest eigenvalue of A^T A), used for ISTA's
// step 1/L. Power iteration on A^T A in double from a random N(0,1) start
// (a.cols() normal draws), at most max_iterations steps, stopping early when
// the relative change of the Rayleigh quotient is below `tolerance`. Returns
// the Rayleigh quotient ||A v||^2 of the final unit iterate v. It is a LOWER
// bound of ||A||_2^2 whose relative error decays like (s2/s1)^(4k) after k
// steps (s1 > s2 the two largest singular values): with the defaults it is
// ~1e-8 or better when s2/s1 < ~0.98, but for matrices with a small top gap
// (e.g. some 250x500 Gaussian draws have s2/s1 ~ 0.994) 200 steps leave a
// relative error of order 1e-5. Callers needing a guaranteed step 1/L should
// raise max_iterations and/or apply a safety factor (L *= 1.01, say).
// Returns 0 for an empty or zero matrix.
// Requires finite a, max_iterations >= 1, tolerance >= 0.
template <typename Scalar>
double SpectralNormSquared(ConstMatRef<Scalar> a, Rng& rng, int max_iterations = 200,
                           double tolerance = 1e-10);

}  // namespace implicit
