// ALISTA's analytic weight matrix.
//
// Liu, Chen, Wang, Yin, "ALISTA: Analytic Weights Are As Good As Learned
// Weights in LISTA", ICLR 2019, Sec. 3: the weight W of a LISTA-CP / ALISTA
// layer soft(z + gamma W^T (b - A z), theta) (in this project's layout the
// layer's n x m matrix is W^T, see unfolding/prox_gradient.hpp) is chosen by
// minimising the generalized mutual coherence between W and A, here in the
// Frobenius form of the paper's Eq. (13):
//
//   W = argmin_{W in R^{m x n}} ||W^T A||_F^2   s.t.  diag(W^T A) = 1.
//
// Why a closed form exists: the objective and the constraints separate by
// column, w_i = argmin ||A^T w||^2 s.t. a_i^T w = 1. With G = A A^T (m x m)
// invertible (A of full row rank, so m <= n), the Lagrange condition
// G w = mu a_i and a_i^T w = 1 give
//
//   w_i = G^{-1} a_i / (a_i^T G^{-1} a_i),   i.e.  W = G^{-1} A D^{-1},
//   D = diag(A^T G^{-1} A),   W^T A = D^{-1} A^T G^{-1} A = D^{-1} P,
//
// where P = A^T G^{-1} A = A^+ A is the orthogonal projector onto the row
// space of A. Optimality is checkable: for any feasible direction d
// (a_i^T d = 0), <A^T w_i, A^T d> = w_i^T G d = mu a_i^T d = 0.
// The paper computes W by projected gradient descent on Eq. (13); the closed
// form is its exact minimiser.
#pragma once

#include "core/types.hpp"

namespace implicit {

// W (m x n) for A (m x n), computed in double with a Cholesky (LLT)
// factorisation of A A^T and cast to Scalar. Throws implicit::Error if A is
// empty, has a non-finite entry, has more rows than columns (m > n: A A^T is
// then singular), A A^T is singular or too ill-conditioned for a meaningful
// inverse (reciprocal condition estimate below 1e-12, i.e. A is rank-deficient
// or nearly so), or a column of A is zero (no w with w^T a_i = 1).
template <typename Scalar>
MatrixX<Scalar> AnalyticWeight(ConstMatRef<Scalar> a);

// Generalized mutual coherence max_{i != j} |w_i^T a_j| of W (m x n) with
// A (m x n) (the quantity ALISTA minimises), computed in double. With W = A
// and unit-norm columns it is the plain mutual coherence of A.
template <typename Scalar>
double MutualCoherence(ConstMatRef<Scalar> w, ConstMatRef<Scalar> a);

// Plain mutual coherence of A with its columns normalised to unit l2 norm:
// max_{i != j} |a_i^T a_j| / (||a_i|| ||a_j||). Throws Error on a zero column.
template <typename Scalar>
double NormalizedMutualCoherence(ConstMatRef<Scalar> a);

}  // namespace implicit
