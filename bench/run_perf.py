#!/usr/bin/python3
"""Side-by-side performance harness: this framework vs PyTorch (issue 5).

    /usr/bin/python3 bench/run_perf.py --bench BUILD/bench/perf_bench [--output docs/PERFORMANCE.md]
    /usr/bin/python3 bench/run_perf.py --bench BUILD/bench/perf_bench --smoke      (CTest: perf_harness_smoke)

(bench/run_perf.sh builds perf_bench and calls this.) For each thread count
(1 and 2) every workload runs in both implementations as separate processes,
alternating ours, torch, ours, torch ... (--reps pairs); each process reports
the median of its timed repetitions and the table shows the median over
processes. Threads: ours with --threads (Eigen::setNbThreads), torch with
torch.set_num_threads; both processes get OMP_NUM_THREADS, OPENBLAS_NUM_THREADS
and MKL_NUM_THREADS = the same count (no oversubscription).

Floor: FLOPs / (best measured GEMM rate of Eigen and OpenBLAS on the LISTA
step's product shapes, same run, same thread count) + bytes / (measured copy
bandwidth). Correctness: a float64 training step on both sides from the same
exported weights and batch, updated parameters compared (rel. diff <= 1e-10).

--smoke: one repetition, tiny sizes, one thread; asserts only that both sides
ran every workload and that the float64 cross-check agrees. Exit 1 otherwise.
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_SCRIPT = os.path.join(HERE, "torch", "perf_torch.py")
PYTHON = "/usr/bin/python3"  # Debian's python3-torch is only visible to the system interpreter

# name, workload, extra args (full mode), processes per side (reps), description
FULL = {"n": 500, "m": 250, "layers": 16, "batch": 64}
SMOKE = {"n": 40, "m": 20, "layers": 3, "batch": 4}


def median(v):
    s = sorted(v)
    if not s:
        return float("nan")
    h = len(s) // 2
    return s[h] if len(s) % 2 else 0.5 * (s[h - 1] + s[h])


def run(cmd, env):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT "):])
            r["process_wall_s"] = wall
            return r
    raise RuntimeError(f"no RESULT line from {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")


def thread_env(threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    return env


def commands(bench, workload, args, threads):
    flat = []
    for k, v in args.items():
        flat += ["--" + k.replace("_", "-"), str(v)]
    ours = [bench, "--workload", workload, "--threads", str(threads)] + flat
    torch = [PYTHON, TORCH_SCRIPT, "--workload", workload, "--threads", str(threads)] + flat
    return ours, torch


def alternate(bench, workload, args, threads, reps, log):
    """A B A B ...: returns (list of ours results, list of torch results)."""
    ours_cmd, torch_cmd = commands(bench, workload, args, threads)
    env = thread_env(threads)
    ours, torch = [], []
    for i in range(reps):
        ours.append(run(ours_cmd, env))
        torch.append(run(torch_cmd, env))
        log(f"    {workload:13s} t={threads} rep {i + 1}/{reps}: ours {ours[-1]['median_s'] * 1e3:9.3f} ms"
            f"  torch {torch[-1]['median_s'] * 1e3:9.3f} ms")
    return ours, torch


def workload_table(sizes, smoke):
    """(row key, workload, args, reps, label)."""
    n, m, k, b = sizes["n"], sizes["m"], sizes["layers"], sizes["batch"]
    common = {"n": n, "m": m, "layers": k}
    if smoke:
        s = {"steps": 2, "warmup": 1}
        return [
            ("seed_toy", "seed_toy", {"n": 20, "m": 10, "layers": 3, "steps": 5}, 1, "seed toy"),
            ("lista_step", "lista_step", dict(common, batch=b, **s), 1, "LISTA step"),
            ("alista_step", "alista_step", dict(common, batch=b, **s), 1, "ALISTA step"),
            ("infer_lista_b1", "infer_lista", dict(common, batch=1, **s), 1, "LISTA infer b1"),
            ("infer_alista_b1", "infer_alista", dict(common, batch=1, **s), 1, "ALISTA infer b1"),
            ("deq", "deq", dict(common, batch=b, deq_iterations=6, **s), 1, "DEQ step"),
        ]
    return [
        ("seed_toy", "seed_toy", {"n": 100, "m": 50, "layers": 5, "steps": 200}, 7, "seed toy"),
        ("lista_step", "lista_step", dict(common, batch=b, steps=20, warmup=3), 5, "LISTA step"),
        ("alista_step", "alista_step", dict(common, batch=b, steps=20, warmup=3), 5, "ALISTA step"),
        ("infer_lista_b1", "infer_lista", dict(common, batch=1, steps=200, warmup=20), 5, "LISTA infer b1"),
        ("infer_lista_b1024", "infer_lista", dict(common, batch=1024, steps=8, warmup=2), 5, "LISTA infer b1024"),
        ("infer_alista_b1", "infer_alista", dict(common, batch=1, steps=200, warmup=20), 5, "ALISTA infer b1"),
        ("infer_alista_b1024", "infer_alista", dict(common, batch=1024, steps=8, warmup=2), 5, "ALISTA infer b1024"),
        ("deq", "deq", dict(common, batch=b, steps=10, warmup=2, deq_iterations=30), 5, "DEQ step"),
    ]


def floor_terms(key, args, deq_iters=30):
    """(GEMM FLOPs, bytes that must move) of one unit of the workload."""
    n, m, k = args.get("n"), args.get("m"), args.get("layers")
    b = args.get("batch", 1)
    # x_0 = 0: layer 1's W2 x_0 (LISTA) / A x_0 (ALISTA) and LISTA's layer-1 grad W2 are
    # zero and not needed (ours skips them; the idiomatic PyTorch code computes them).
    if key == "lista_step":
        params = k * (n * m + n * n + n)
        flops = 2 * k * 2 * n * m * b + 3 * (k - 1) * 2 * n * n * b  # ~1.95 GFLOP at issue 5's sizes
        return flops, 28 * params  # Adam: read p, g, m, v; write p, m, v (float32)
    if key == "alista_step":
        return (4 * k - 3) * 2 * n * m * b, 0
    if key.startswith("infer_lista"):
        return k * 2 * n * m * b + (k - 1) * 2 * n * n * b, 4 * k * (n * m + n * n + n)  # weights read once
    if key.startswith("infer_alista"):
        return (2 * k - 1) * 2 * n * m * b, 2 * 4 * n * m
    if key == "deq":
        it = args.get("deq_iterations", deq_iters)
        # forward: it cell evaluations + 1 (returned iterate) + 1 (linearisation at z*);
        # adjoint: it VJPs + 1; dW = gamma gu r^T; Adam over W (n x m).
        return (2 * it + 3) * 4 * n * m * b + 2 * n * m * b, 28 * n * m
    return None


def machine_info():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cores"] = os.cpu_count()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            if line.startswith(("L2 cache", "L3 cache", "Flags")):
                key, val = line.split(":", 1)
                if key == "Flags":
                    info["avx512"] = "avx512f" in val.split()
                else:
                    info[key.strip()] = val.strip()
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["memory"] = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    info["kernel"] = platform.release()
    try:
        info["torch"] = subprocess.run([PYTHON, "-c", "import torch; print(torch.__version__)"],
                                       capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    info["blas"] = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    try:
        with open("/usr/include/eigen3/Eigen/src/Core/util/Macros.h") as f:
            v = {}
            for line in f:
                for name in ("WORLD", "MAJOR", "MINOR"):
                    if line.startswith(f"#define EIGEN_{name}_VERSION"):
                        v[name] = line.split()[2]
            info["eigen"] = f"{v.get('WORLD')}.{v.get('MAJOR')}.{v.get('MINOR')}"
    except OSError:
        pass
    info["compiler"] = (subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines() or [""])[0]
    info["load_average_start"] = os.getloadavg()
    return info


def crosscheck(bench, sizes, log):
    import numpy as np
    d = tempfile.mkdtemp(prefix="perf_crosscheck_")
    try:
        args = {"n": sizes["n"], "m": sizes["m"], "layers": sizes["layers"], "batch": sizes["batch"], "dir": d}
        ours_cmd, torch_cmd = commands(bench, "crosscheck", args, 1)
        env = thread_env(1)
        run(torch_cmd, env)
        run(ours_cmd, env)
        names = []
        for k in range(sizes["layers"]):
            names += [f"lista_W1_{k}", f"lista_W2_{k}", f"lista_theta_{k}"]
        names += ["alista_gamma", "alista_theta"]
        worst_param, worst_update, sq_diff, sq_ref = 0.0, 0.0, 0.0, 0.0
        for name in names:
            ours = np.load(os.path.join(d, "ours_" + name + ".npy")).reshape(-1)
            ref = np.load(os.path.join(d, "torch_" + name + ".npy")).reshape(-1)
            init = np.load(os.path.join(d, name + ".npy")).reshape(-1)
            diff = np.linalg.norm(ours - ref)
            worst_param = max(worst_param, diff / max(np.linalg.norm(ref), 1e-300))
            upd = np.linalg.norm(ref - init)
            if upd > 0:
                worst_update = max(worst_update, diff / upd)
            sq_diff += diff ** 2
            sq_ref += np.linalg.norm(ref) ** 2
        result = {"max_param_rel_diff": float(worst_param), "max_update_rel_diff": float(worst_update),
                  "all_param_rel_diff": float(math.sqrt(sq_diff / sq_ref)), "arrays": len(names),
                  "sizes": dict(sizes), "ok": bool(worst_param <= 1e-10)}
        log(f"  crosscheck (float64, one Adam step, LISTA + ALISTA, {len(names)} arrays): max rel. diff of updated "
            f"parameters {worst_param:.3e}, of the updates {worst_update:.3e} -> {'OK' if result['ok'] else 'FAIL'}")
        return result
    finally:
        shutil.rmtree(d, ignore_errors=True)


def fmt_time(s):
    if s is None or not math.isfinite(s):
        return "–"
    if s >= 1.0:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def measure(bench, threads_list, smoke, log, reps_override=0):
    sizes = SMOKE if smoke else FULL
    results = {"threads": {}, "sizes": sizes}
    for t in threads_list:
        log(f"== {t} thread(s)")
        env = thread_env(t)
        cal_args = {"n": sizes["n"], "m": sizes["m"], "batch": sizes["batch"], "steps": 2 if smoke else 12,
                    "warmup": 1 if smoke else 3}
        g_ours, g_torch = alternate(bench, "gemm", cal_args, t, 1 if smoke else 3, log)
        bw = [run([bench, "--workload", "bandwidth", "--threads", str(t), "--steps", "4" if smoke else "10"], env)
              for _ in range(1 if smoke else 3)]
        cal = {"eigen_gflops_mix": median([r["gflops_mix"] for r in g_ours]),
               "openblas_gflops_mix": median([r["gflops_mix"] for r in g_torch]),
               "eigen_gflops_square": median([r["gflops_square1024"] for r in g_ours]),
               "openblas_gflops_square": median([r["gflops_square1024"] for r in g_torch]),
               "copy_gbs": median([r["copy_gbs"] for r in bw])}
        cal["gemm_rate"] = max(cal["eigen_gflops_mix"], cal["openblas_gflops_mix"])
        log(f"  GEMM (LISTA shapes) Eigen {cal['eigen_gflops_mix']:.1f} / OpenBLAS {cal['openblas_gflops_mix']:.1f}"
            f" GFLOP/s; 1024^3: {cal['eigen_gflops_square']:.1f} / {cal['openblas_gflops_square']:.1f}; "
            f"copy {cal['copy_gbs']:.1f} GB/s")
        rows = {}
        for key, workload, args, reps, label in workload_table(sizes, smoke):
            ours, torch = alternate(bench, workload, args, t, reps_override or reps, log)
            row = {"label": label, "args": args,
                   "ours_s": median([r["median_s"] for r in ours]),
                   "torch_s": median([r["median_s"] for r in torch]),
                   "ours_rss": median([r["peak_rss_bytes"] for r in ours]),
                   "torch_rss": median([r["peak_rss_bytes"] for r in torch]),
                   "ours_process_s": median([r["process_wall_s"] for r in ours]),
                   "torch_process_s": median([r["process_wall_s"] for r in torch]),
                   "ours_runs": [r["median_s"] for r in ours], "torch_runs": [r["median_s"] for r in torch]}
            for r in ours + torch:
                for v in r["times"]:
                    if not math.isfinite(v):
                        raise RuntimeError(f"{workload}: non-finite time")
            terms = floor_terms(key, args)
            if terms is not None:
                flops, nbytes = terms
                row["floor_gemm_s"] = flops / (cal["gemm_rate"] * 1e9)
                row["floor_mem_s"] = nbytes / (cal["copy_gbs"] * 1e9)
                row["floor_s"] = row["floor_gemm_s"] + row["floor_mem_s"]
                row["flops"], row["bytes"] = flops, nbytes
            rows[key] = row
        results["threads"][str(t)] = {"calibration": cal, "rows": rows}
    return results


TARGETS = {  # key -> (kind, target per thread count) ; kind: time ratio ours/torch must be <= target
    "lista_step": {"1": 0.8, "2": 0.6},
    "alista_step": {"1": 0.9, "2": 0.7},
    "deq": {"1": 0.5, "2": 0.5},
    "infer_lista_b1": {"1": 0.3, "2": 0.3},
    "infer_alista_b1": {"1": 0.3, "2": 0.3},
    "infer_lista_b1024": {"1": 1 / 1.2, "2": 1 / 1.2},
    "infer_alista_b1024": {"1": 1 / 1.2, "2": 1 / 1.2},
}


def markdown(results, info, cross, command, runtime_s, generated=None, load_end=None):
    out = []
    w = out.append
    w("# Performance: this framework vs PyTorch on the same CPU")
    w("")
    w("Generated by `bench/run_perf.py` (issue 5). Regenerate with ONE command from the project root:")
    w("")
    w("```")
    w(command)
    w("```")
    w("")
    generated = generated or datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')
    load_end = os.getloadavg()[0] if load_end is None else load_end
    w(f"Generated {generated}, harness run time {runtime_s / 60:.1f} min, 1-minute load average at start "
      f"{info['load_average_start'][0]:.2f}, at end {load_end:.2f} (it should be ≈ 0 besides the harness: "
      f"other work on the machine makes every number noisy, the 2-thread ones most).")
    w("")
    w("## Machine")
    w("")
    for k in ("cpu", "cores", "avx512", "L2 cache", "L3 cache", "memory", "kernel", "compiler", "eigen", "torch", "blas"):
        if k in info:
            w(f"- {k}: {info[k]}")
    w("")
    w("## How it is measured")
    w("")
    w("- Every workload runs in both implementations as separate processes, alternating ours, PyTorch, ours, "
      "PyTorch, ... ; each process times its repetitions after a warm-up and reports their median; the table "
      "shows the median over processes. Ratio = ours / PyTorch time (< 1: we are faster).")
    w("- Same thread count on both sides: ours `--threads t` (Eigen::setNbThreads, OpenMP); PyTorch "
      "`torch.set_num_threads(t)`; both processes get `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, "
      "`MKL_NUM_THREADS` = t. PyTorch is Debian's `python3-torch` run by `/usr/bin/python3`, BLAS = "
      "OpenBLAS (pthread) through the libblas.so.3 alternative.")
    w("- PyTorch side (`bench/torch/perf_torch.py`): nn.Module layers (nn.Linear W1/W2 for LISTA, buffers A, W "
      "for ALISTA), torch.optim.Adam, nn.MSELoss, `zero_grad(set_to_none=True)`, `torch.inference_mode()` for "
      "inference; the DEQ with the torchdeq / DEQ-repo IFT: Anderson under no_grad, one re-engaging f(z*) step, "
      "a backward hook solving u = Jᵀu + g with the same Anderson solver and `torch.autograd.grad` VJPs.")
    w("- Sizes: LISTA untied N=500, M=250, K=16 (6.0 M parameters), batch 64; ALISTA same sizes (W = Aᵀ fixed, "
      "γ, θ per layer, plain soft threshold: no support selection on either side); DEQ: the prox-gradient "
      "(LISTA-CP) cell soft(z + γW(b − Az), θ) with W learned, N=500, M=250, batch 64, Anderson m=5 with relative "
      "ridge 1e-4, 30 forward and 30 adjoint iterations on both sides (tolerance off: identical work).")
    w("- Floor = GEMM FLOPs / (best of Eigen and OpenBLAS on the LISTA step's product shapes, measured in this "
      "run at this thread count) + bytes that must move / (measured copy bandwidth, read+write). Bytes: Adam "
      "reads p, g, m, v and writes p, m, v: 28 B per float32 parameter; inference reads the weights once. "
      "`×floor` = ours / floor (target ≤ 1.3 for train steps); fraction of floor = floor / ours.")
    w("")
    for t, data in results["threads"].items():
        cal = data["calibration"]
        w(f"## {t} thread{'s' if t != '1' else ''}")
        w("")
        w(f"Measured in this run: GEMM on the LISTA shapes Eigen {cal['eigen_gflops_mix']:.1f}, OpenBLAS "
          f"{cal['openblas_gflops_mix']:.1f} GFLOP/s (square 1024: Eigen {cal['eigen_gflops_square']:.1f}, OpenBLAS "
          f"{cal['openblas_gflops_square']:.1f}); copy bandwidth {cal['copy_gbs']:.1f} GB/s. Floor rate: "
          f"{cal['gemm_rate']:.1f} GFLOP/s.")
        w("")
        w("| workload | ours | PyTorch | ratio ours/PyTorch | target | floor (GEMM + memory) | ×floor | fraction of floor |")
        w("|---|---|---|---|---|---|---|---|")
        rows = data["rows"]
        for key, row in rows.items():
            target = TARGETS.get(key, {}).get(t)
            ratio = row["ours_s"] / row["torch_s"]
            if key == "seed_toy":
                pr = row["ours_process_s"] / row["torch_process_s"]
                w(f"| seed toy: whole process (N=100, M=50, K=5, 200 epochs) | {fmt_time(row['ours_process_s'])} | "
                  f"{fmt_time(row['torch_process_s'])} | {pr:.3f} | ≤ 0.1 {'✓' if pr <= 0.1 else '✗'} | – | – | – |")
                w(f"| seed toy: training loop | {fmt_time(row['ours_s'])} | {fmt_time(row['torch_s'])} | {ratio:.3f} "
                  f"| – | – | – | – |")
                continue
            label = row["label"]
            if key.endswith("b1024"):
                label += f" (throughput: ours {1024 / row['ours_s']:.0f}/s, PyTorch {1024 / row['torch_s']:.0f}/s samples)"
            tgt = "–" if target is None else (f"≤ {target:.2f} {'✓' if ratio <= target else '✗'}")
            if key.endswith("b1024") and target is not None:
                tgt = f"thr. ≥ 1.2× ({row['torch_s'] / row['ours_s']:.2f}×) {'✓' if ratio <= target else '✗'}"
            if "floor_s" in row:
                fl = f"{fmt_time(row['floor_s'])} ({fmt_time(row['floor_gemm_s'])} + {fmt_time(row['floor_mem_s'])})"
                xf = row["ours_s"] / row["floor_s"]
                xfs = f"{xf:.2f}" + ((" ✓" if xf <= 1.3 else " ✗") if key.endswith("_step") or key == "deq" else "")
                frac = f"{row['floor_s'] / row['ours_s']:.2f}"
            else:
                fl, xfs, frac = "–", "–", "–"
            w(f"| {label} | {fmt_time(row['ours_s'])} | {fmt_time(row['torch_s'])} | {ratio:.3f} | {tgt} | {fl} | {xfs} | {frac} |")
        for key in ("lista_step", "deq"):
            if key in rows:
                row = rows[key]
                r = row["ours_rss"] / row["torch_rss"]
                w(f"| peak RSS, {row['label']} | {row['ours_rss'] / 2**20:.0f} MiB | {row['torch_rss'] / 2**20:.0f} MiB "
                  f"| {r:.3f} | ≤ 0.5 {'✓' if r <= 0.5 else '✗'} | – | – | – |")
        w("")
        w("Per-process medians (ms), ours | PyTorch, in run order:")
        w("")
        for key, row in rows.items():
            w(f"- {key}: " + " ".join(f"{v * 1e3:.3f}" for v in row["ours_runs"]) + " | " +
              " ".join(f"{v * 1e3:.3f}" for v in row["torch_runs"]))
        w("")
    w("## Correctness cross-check (float64)")
    w("")
    if cross:
        w(f"Initial weights and one batch exported by PyTorch as .npy (N={cross['sizes']['n']}, M={cross['sizes']['m']}, "
          f"K={cross['sizes']['layers']}, batch {cross['sizes']['batch']}); one Adam step (MSE) on both sides for "
          f"LISTA and for ALISTA; {cross['arrays']} parameter arrays compared. Max relative difference of the updated "
          f"parameters (‖ours − torch‖ / ‖torch‖ per array): **{cross['max_param_rel_diff']:.2e}** (all arrays "
          f"together {cross['all_param_rel_diff']:.2e}); of the updates themselves (‖Δours − Δtorch‖ / ‖Δtorch‖): "
          f"{cross['max_update_rel_diff']:.2e}. Requirement ≤ 1e-10: **{'met' if cross['ok'] else 'NOT met'}**.")
    w("")
    notes = os.path.join(HERE, "perf_notes.md")
    if os.path.exists(notes):  # the hand-written analysis (profiles, misses, optimisations)
        with open(notes) as f:
            w(f.read())
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", required=True, help="path to the perf_bench binary")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition, assert both sides ran and agree")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (full mode)")
    p.add_argument("--output", default="", help="write the markdown report here (full mode)")
    p.add_argument("--reps", type=int, default=0,
                   help="processes per side for every workload (default: 5, seed toy 7; 1 = a quick look)")
    p.add_argument("--json", default="", help="also write the raw results as JSON here")
    p.add_argument("--command", default="bash bench/run_perf.sh", help="command line printed in the report")
    p.add_argument("--from-json", dest="from_json", default="",
                   help="re-render the report from a --json file of an earlier run (no measuring)")
    o = p.parse_args()
    start = time.perf_counter()
    log = lambda s: print(s, flush=True)
    if o.from_json:
        with open(o.from_json) as f:
            saved = json.load(f)
        report = markdown(saved["results"], saved["info"], saved["crosscheck"], o.command, saved.get("runtime_s", 0.0),
                          saved.get("generated"), saved.get("load_end"))
        if o.output:
            with open(o.output, "w") as f:
                f.write(report)
            log(f"wrote {o.output}")
        else:
            print(report)
        return 0
    if not os.path.exists(o.bench):
        sys.exit(f"run_perf: {o.bench} not found (build the perf_bench target)")
    check = subprocess.run([PYTHON, "-c", "import torch, numpy"], capture_output=True, text=True)
    if check.returncode != 0:
        sys.exit("run_perf: /usr/bin/python3 cannot import torch and numpy (apt-get install python3-torch "
                 "python3-numpy; scripts/install_deps.sh)\n" + check.stderr)
    info = machine_info()
    threads = [1] if o.smoke else [int(t) for t in o.threads.split(",")]
    try:
        results = measure(o.bench, threads, o.smoke, log, o.reps)
        cross = crosscheck(o.bench, SMOKE if o.smoke else {"n": 200, "m": 100, "layers": 8, "batch": 32}, log)
    except RuntimeError as e:
        print(f"run_perf: FAILED: {e}", file=sys.stderr)
        return 1
    runtime = time.perf_counter() - start
    report = markdown(results, info, cross, o.command, runtime)
    if o.json:
        with open(o.json, "w") as f:
            json.dump({"info": info, "results": results, "crosscheck": cross, "runtime_s": runtime,
                       "generated": datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC'),
                       "load_end": os.getloadavg()[0]}, f, indent=1, default=str)
    if o.output:
        tmp = o.output + ".tmp"
        with open(tmp, "w") as f:
            f.write(report)
        os.replace(tmp, o.output)
        log(f"wrote {o.output}")
    if not o.smoke or not o.output:
        print(report)
    if o.smoke:
        ok = cross["ok"]
        for t, data in results["threads"].items():
            for key, row in data["rows"].items():
                if not (row["ours_s"] > 0 and row["torch_s"] > 0):
                    ok = False
                    print(f"run_perf: smoke: {key} did not run on both sides", file=sys.stderr)
        print("run_perf: smoke " + ("OK" if ok else "FAILED"))
        return 0 if ok else 1
    if not cross["ok"]:
        print("run_perf: the float64 cross-check FAILED", file=sys.stderr)
        return 1
    log(f"run_perf: done in {runtime / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
