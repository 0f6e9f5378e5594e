#!/usr/bin/python3
"""Where and by how much descent fails: reads the per-sample objective traces
that descent_constrained writes (validation_objective.npy: F(x_l) of every
validation sample j (row) at every layer l = 0..K (column)) and prints, per
layer, how many samples increase F there and the size of those increases
relative to F(x_{l-1}); then the descent rate and what it would be if
relative increases below a tolerance were ignored (how much of the failure
is rounding-level).

    /usr/bin/python3 scripts/descent_failures.py results/robustness/train/unconstrained [...]

Each argument is a model folder of descent_constrained (or the .npy itself).

    /usr/bin/python3 scripts/descent_failures.py --restricted-lipschitz ../shared/data/alista/A_m250_n500.npy

prints L = ||A||_2^2 and the restricted constants L_S = ||A_S||_2^2 (mean and
max over 50 random supports of sizes 50, 75, 100, seed 0): a learned step
gamma keeps a gradient step on support S stable only while gamma L_S < 2.
Needs NumPy (python3-numpy, seen by /usr/bin/python3).
"""
import os
import sys

import numpy as np


def report(path):
    if os.path.isdir(path):
        path = os.path.join(path, "validation_objective.npy")
    if not os.path.exists(path):
        sys.exit(f"descent_failures.py: {path} not found (written by descent_constrained)")
    f = np.load(path)
    if f.ndim != 2 or f.shape[1] < 2:
        sys.exit(f"descent_failures.py: {path}: expected a B x (K + 1) matrix, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        print(f"{path}: {np.sum(~np.isfinite(f))} non-finite F values (diverged samples count as failures)")
    increase = f[:, 1:] - f[:, :-1]
    relative = increase / np.maximum(f[:, :-1], 1e-300)
    fails = ~(increase <= 0)  # NaN counts as a failure, like EvaluateDescent
    print(f"{path}: {f.shape[0]} samples, {f.shape[1] - 1} layers, descent rate {np.mean(~fails.any(axis=1)):.3f}")
    print("  layer  failing  median rel. increase  max rel. increase  median F(x_l-1) of failing")
    for l in range(fails.shape[1]):
        idx = fails[:, l]
        if idx.any():
            r = relative[idx, l]
            print(f"  {l + 1:5d}  {idx.sum():7d}  {np.nanmedian(r):20.2e}  {np.nanmax(r):17.2e}  "
                  f"{np.median(f[idx, l]):.2e}")
    for tol in (1e-6, 1e-4, 1e-3, 1e-2):
        ok = ~((relative > tol) | ~np.isfinite(relative)).any(axis=1)
        print(f"  descent rate ignoring relative increases <= {tol:g}: {np.mean(ok):.3f}")


def restricted_lipschitz(path):
    a = np.load(path)
    if a.ndim != 2 or not np.all(np.isfinite(a)):
        sys.exit(f"descent_failures.py: {path}: expected a finite matrix")
    m, n = a.shape
    big = np.linalg.norm(a, 2) ** 2
    print(f"{path}: {m} x {n}, L = ||A||^2 = {big:.4f}, 1/L = {1 / big:.4f}")
    rng = np.random.default_rng(0)
    for k in (50, 75, 100):
        values = [np.linalg.norm(a[:, rng.choice(n, k, replace=False)], 2) ** 2 for _ in range(50)]
        print(f"  support size {k:3d}: L_S mean {np.mean(values):.3f}, max {np.max(values):.3f}, "
              f"2 / max L_S = {2 / np.max(values):.3f}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--restricted-lipschitz":
        if len(sys.argv) != 3:
            sys.exit("usage: descent_failures.py --restricted-lipschitz A.npy")
        restricted_lipschitz(sys.argv[2])
        return
    for p in sys.argv[1:]:
        report(p)


if __name__ == "__main__":
    main()
