#!/usr/bin/python3
"""PyTorch side of the performance comparison (issue 5); twin of bench/perf_bench.cpp.

Same flags, same workloads, same output line:
    RESULT {"side": "torch", "workload": ..., "times": [...], "median_s": ..., "peak_rss_bytes": ...}
Run it with /usr/bin/python3 (Debian's python3-torch). bench/run_perf.py sets
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS before starting this
process; --threads also calls torch.set_num_threads.

The models are written the way the seed article and the DEQ libraries write
them: nn.Module layers (nn.Linear for LISTA's W1/W2), torch.optim.Adam,
nn.MSELoss, autograd for every gradient, and for the DEQ the torchdeq-style
IFT backward (a backward hook that solves the adjoint fixed point with the
same Anderson solver, VJPs by torch.autograd.grad).
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def soft(u, theta):
    # The seed article's soft threshold: sign(u) * relu(|u| - theta).
    return torch.sign(u) * F.relu(torch.abs(u) - theta)


class LISTA(nn.Module):
    """Untied LISTA: x_{k+1} = soft(W1_k b + W2_k x_k, theta_k), x_0 = 0."""

    def __init__(self, n, m, layers, w_std=0.1, theta0=0.01):
        super().__init__()
        self.n = n
        self.W1 = nn.ModuleList([nn.Linear(m, n, bias=False) for _ in range(layers)])
        self.W2 = nn.ModuleList([nn.Linear(n, n, bias=False) for _ in range(layers)])
        self.theta = nn.ParameterList([nn.Parameter(torch.full((n,), theta0)) for _ in range(layers)])
        with torch.no_grad():
            for lin in list(self.W1) + list(self.W2):
                lin.weight.normal_(0.0, w_std)

    def forward(self, b):
        x = torch.zeros(b.shape[0], self.n, dtype=b.dtype)
        for w1, w2, theta in zip(self.W1, self.W2, self.theta):
            x = soft(w1(b) + w2(x), theta)
        return x


class ALISTA(nn.Module):
    """ALISTA: z_{k+1} = soft(z_k + gamma_k W (b - A z_k), theta_k); A and W fixed (buffers)."""

    def __init__(self, A, W, gamma, theta):
        super().__init__()
        self.register_buffer("A", A)  # m x n
        self.register_buffer("W", W)  # n x m
        self.gamma = nn.ParameterList([nn.Parameter(torch.tensor(float(g), dtype=A.dtype)) for g in gamma])
        self.theta = nn.ParameterList([nn.Parameter(torch.tensor(float(t), dtype=A.dtype)) for t in theta])

    def forward(self, b):
        z = torch.zeros(b.shape[0], self.A.shape[1], dtype=b.dtype)
        for gamma, theta in zip(self.gamma, self.theta):
            r = b - F.linear(z, self.A)
            z = soft(z + gamma * F.linear(r, self.W), theta)
        return z


class ProxGradientCell(nn.Module):
    """The sparse-recovery DEQ cell: f(z; b) = soft(z + gamma W (b - A z), theta), W learned."""

    def __init__(self, A, W, gamma, theta):
        super().__init__()
        self.register_buffer("A", A)
        self.W = nn.Parameter(W.clone())
        self.gamma = nn.Parameter(torch.tensor(float(gamma)))
        self.theta = nn.Parameter(torch.tensor(float(theta)))

    def forward(self, z, b):
        return soft(z + self.gamma * F.linear(b - F.linear(z, self.A), self.W), self.theta)


def anderson(f, x0, max_iter, m=5, ridge=1e-4, eps=1e-9):
    """torchdeq's batched Anderson (type II, tau = 1), with the framework's relative ridge
    (ridge * trace(G G^T) / n) and lowest-residual iterate. max_iter evaluations of f."""
    bsz, d = x0.shape
    X = torch.zeros(bsz, m, d, dtype=x0.dtype)
    Fx = torch.zeros(bsz, m, d, dtype=x0.dtype)
    X[:, 0], Fx[:, 0] = x0, f(x0)
    X[:, 1], Fx[:, 1] = Fx[:, 0], f(Fx[:, 0])
    H = torch.zeros(bsz, m + 1, m + 1, dtype=x0.dtype)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    y = torch.zeros(bsz, m + 1, 1, dtype=x0.dtype)
    y[:, 0] = 1
    best = X[:, 1].clone()
    best_res = torch.full((bsz,), float("inf"), dtype=x0.dtype)
    for k in range(2, max_iter):
        n = min(k, m)
        G = Fx[:, :n] - X[:, :n]
        GG = torch.bmm(G, G.transpose(1, 2))
        lam = ridge * GG.diagonal(dim1=1, dim2=2).sum(1) / n
        H[:, 1:n + 1, 1:n + 1] = GG + lam[:, None, None] * torch.eye(n, dtype=x0.dtype)[None]
        alpha = torch.linalg.solve(H[:, :n + 1, :n + 1], y[:, :n + 1])[:, 1:n + 1, 0]
        X[:, k % m] = torch.bmm(alpha[:, None], Fx[:, :n])[:, 0]
        Fx[:, k % m] = f(X[:, k % m])
        gx = Fx[:, k % m] - X[:, k % m]
        res = gx.norm(dim=1) / (Fx[:, k % m].norm(dim=1) + eps)
        better = res < best_res
        best_res = torch.where(better, res, best_res)
        best = torch.where(better[:, None], X[:, k % m], best)
    return best


class DEQ(nn.Module):
    """z* = f(z*; b) by Anderson, IFT backward the torchdeq / DEQ-repo way."""

    def __init__(self, cell, iterations):
        super().__init__()
        self.cell = cell
        self.iterations = iterations

    def forward(self, b):
        z0 = torch.zeros(b.shape[0], self.cell.A.shape[1], dtype=b.dtype)
        with torch.no_grad():
            z_star = anderson(lambda z: self.cell(z, b), z0, self.iterations)
        new_z = self.cell(z_star.requires_grad_(), b)  # one step re-engages autograd (df/dtheta)
        if self.training:
            z_copy = new_z.clone().detach().requires_grad_()
            f_copy = self.cell(z_copy, b)

            def backward_hook(grad):
                # u = J^T u + grad, J = df/dz at z*, VJPs by autograd.
                return anderson(lambda u: torch.autograd.grad(f_copy, z_copy, u, retain_graph=True)[0] + grad,
                                torch.zeros_like(grad), self.iterations)

            new_z.register_hook(backward_hook)
        return new_z


def gaussian_matrix(m, n, gen, dtype=torch.float32):
    return torch.randn(m, n, generator=gen, dtype=dtype) / m ** 0.5


def bernoulli_gaussian(batch, n, p, gen, dtype=torch.float32):
    return (torch.rand(batch, n, generator=gen, dtype=dtype) < p).to(dtype) * torch.randn(batch, n, generator=gen, dtype=dtype)


def lipschitz(A):
    return float(torch.linalg.matrix_norm(A.double(), ord=2) ** 2) * 1.001


def train_steps(model, b, x, lr, warmup, steps):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(b), x)
        loss.backward()
        opt.step()
        t = time.perf_counter() - t0
        if i >= warmup:
            times.append(t)
    if not torch.isfinite(loss):
        raise SystemExit("training diverged")
    return times, {"final_loss": float(loss)}


def inference(model, b, warmup, steps):
    times = []
    with torch.inference_mode():
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            out = model(b)
            t = time.perf_counter() - t0
            if i >= warmup:
                times.append(t)
    return times, {"checksum": float(out.sum())}


def sparse_data(o):
    gen = torch.Generator().manual_seed(1)
    A = gaussian_matrix(o.m, o.n, gen)
    x = bernoulli_gaussian(o.batch, o.n, 0.1, gen)
    b = x @ A.T
    return A, x, b


def seed_toy(o):
    # The seed article: A = randn(M, N), 5 pulses, b = A x + 0.05 n, W ~ 0.1 randn, theta = 0.01.
    torch.manual_seed(0)
    A = torch.randn(o.m, o.n)
    x = torch.zeros(1, o.n)
    x[0, torch.randperm(o.n)[:5]] = torch.randn(5)
    b = x @ A.T + 0.05 * torch.randn(1, o.m)
    model = LISTA(o.n, o.m, o.layers, 0.1, 0.01)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()
    t0 = time.perf_counter()
    for _ in range(o.steps):
        opt.zero_grad()
        loss = loss_fn(model(b), x)
        loss.backward()
        opt.step()
    return [time.perf_counter() - t0], {"final_loss": float(loss)}


def lista(o, train):
    A, x, b = sparse_data(o)
    torch.manual_seed(2)
    model = LISTA(o.n, o.m, o.layers, 0.01, 0.01)
    if train:
        return train_steps(model, b, x, 1e-4, o.warmup, o.steps)
    return inference(model, b, o.warmup, o.steps)


def alista(o, train):
    A, x, b = sparse_data(o)
    L = lipschitz(A)
    model = ALISTA(A, A.T.contiguous(), [1.0 / L] * o.layers, [0.1 / L] * o.layers)
    if train:
        return train_steps(model, b, x, 1e-3, o.warmup, o.steps)
    return inference(model, b, o.warmup, o.steps)


def deq(o):
    A, x, b = sparse_data(o)
    L = lipschitz(A)
    model = DEQ(ProxGradientCell(A, A.T.contiguous(), 1.0 / L, 0.1 / L), o.deq_iterations)
    return train_steps(model, b, x, 1e-4, o.warmup, o.steps)


def gemm(o):
    # The LISTA step's products as nn.Linear / autograd issue them (samples are rows).
    g = torch.Generator().manual_seed(3)
    r = lambda *s: torch.randn(*s, generator=g)
    W1, W2, b, z, gu = r(o.n, o.m), r(o.n, o.n), r(o.batch, o.m), r(o.batch, o.n), r(o.batch, o.n)
    flops_mix = 2.0 * o.batch * (o.n * o.m + o.n * o.n) * 2.0 + 2.0 * o.batch * o.n * o.n
    mix = []
    for i in range(o.warmup + o.steps):
        t0 = time.perf_counter()
        for _ in range(4):
            u = F.linear(b, W1) + F.linear(z, W2)
            g1 = gu.T.mm(b)
            g2 = gu.T.mm(z)
            gz = gu.mm(W2)
        if i >= o.warmup:
            mix.append((time.perf_counter() - t0) / 4)
    P, Q = r(1024, 1024), r(1024, 1024)
    sq = []
    for i in range(2 + max(3, o.steps // 4)):
        t0 = time.perf_counter()
        C = P.mm(Q)
        if i >= 2:
            sq.append(time.perf_counter() - t0)
    return mix, {"gflops_mix": flops_mix / median(mix) / 1e9,
                 "gflops_square1024": 2.0 * 1024 ** 3 / median(sq) / 1e9,
                 "checksum": float(u.sum() + g1.sum() + g2.sum() + gz.sum() + C[0, 0])}


def crosscheck(o):
    """float64: writes initial weights and a batch to --dir, runs one Adam step on LISTA
    and on ALISTA, writes torch_* results. perf_bench --workload crosscheck reads the
    same inputs and writes ours_*; run_perf.py compares."""
    import numpy as np
    torch.set_default_dtype(torch.float64)
    d = o.dir
    os.makedirs(d, exist_ok=True)
    save = lambda name, t: np.save(os.path.join(d, name + ".npy"), t.detach().numpy())
    gen = torch.Generator().manual_seed(5)
    A = gaussian_matrix(o.m, o.n, gen, torch.float64)
    x = bernoulli_gaussian(o.batch, o.n, 0.1, gen, torch.float64)
    b = x @ A.T + 0.01 * torch.randn(o.batch, o.m, generator=gen, dtype=torch.float64)
    L = lipschitz(A)
    save("b", b), save("x", x), save("layers", torch.tensor([float(o.layers)]))
    loss_fn = nn.MSELoss()
    # LISTA from ISTA's weights plus noise (a realistic, well-conditioned start).
    model = LISTA(o.n, o.m, o.layers)
    with torch.no_grad():
        for k in range(o.layers):
            model.W1[k].weight.copy_(A.T / L + 0.01 * torch.randn(o.n, o.m, generator=gen))
            model.W2[k].weight.copy_(torch.eye(o.n) - A.T @ A / L + 0.01 * torch.randn(o.n, o.n, generator=gen))
            model.theta[k].copy_(0.1 / L * (1 + 0.5 * torch.rand(o.n, generator=gen)))
            save(f"lista_W1_{k}", model.W1[k].weight), save(f"lista_W2_{k}", model.W2[k].weight)
            save(f"lista_theta_{k}", model.theta[k])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    opt.zero_grad()
    loss_fn(model(b), x).backward()
    opt.step()
    for k in range(o.layers):
        save(f"torch_lista_W1_{k}", model.W1[k].weight), save(f"torch_lista_W2_{k}", model.W2[k].weight)
        save(f"torch_lista_theta_{k}", model.theta[k])
    # ALISTA.
    W = A.T + 0.01 * torch.randn(o.n, o.m, generator=gen)
    gamma = (1.0 / L) * (1 + 0.1 * torch.rand(o.layers, generator=gen))
    theta = (0.1 / L) * (1 + 0.1 * torch.rand(o.layers, generator=gen))
    save("alista_A", A), save("alista_W", W), save("alista_gamma", gamma), save("alista_theta", theta)
    model = ALISTA(A, W, gamma.tolist(), theta.tolist())
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    opt.zero_grad()
    loss_fn(model(b), x).backward()
    opt.step()
    save("torch_alista_gamma", torch.stack(list(model.gamma)))
    save("torch_alista_theta", torch.stack(list(model.theta)))
    return [0.0], {}


def median(v):
    s = sorted(v)
    h = len(s) // 2
    return s[h] if len(s) % 2 else 0.5 * (s[h - 1] + s[h])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="lista_step")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--m", type=int, default=250)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--deq-iterations", dest="deq_iterations", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dir", default="")
    o = p.parse_args()
    torch.set_num_threads(o.threads)
    w = o.workload
    table = {
        "seed_toy": lambda: seed_toy(o),
        "lista_step": lambda: lista(o, True),
        "alista_step": lambda: alista(o, True),
        "infer_lista": lambda: lista(o, False),
        "infer_alista": lambda: alista(o, False),
        "deq": lambda: deq(o),
        "gemm": lambda: gemm(o),
        "crosscheck": lambda: crosscheck(o),
    }
    if w not in table:
        sys.exit(f"perf_torch: unknown workload '{w}'")
    times, extra = table[w]()
    out = {"side": "torch", "workload": w, "threads": torch.get_num_threads(), "n": o.n, "m": o.m,
           "layers": o.layers, "batch": o.batch, "median_s": median(times),
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "times": times}
    out.update(extra)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
