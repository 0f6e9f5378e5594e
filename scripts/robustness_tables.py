#!/usr/bin/env python3
"""Prints the markdown tables of docs/ROBUSTNESS.md from a robustness.sh run.

    python3 scripts/robustness_tables.py [OUTPUT_DIR]     (default results/robustness)

Reads OUTPUT_DIR/train*/summary*.json (descent_constrained, one folder per
pair) and OUTPUT_DIR/eval/summary.json (robustness) and prints: the pairs
(validation NMSE, descent rate, held-out slacks, duals), NMSE and descent
per layer, and for every pair the shifted scenarios where the constrained
model beats its twin and where it does not (dB), and, when OUTPUT_DIR/eval_seeds exists (SEEDS="1 2"), the Step-LISTA
pair's constrained-minus-twin margin per seed and scenario. Only the
standard library.
"""
import glob
import json
import os
import sys

PAIRS = [  # folder, constrained name in the evaluation, twin name, label
    ("train", "constrained", "unconstrained", "Step-LISTA (main pair)"),
    ("train_alista", "constrained_alista", "unconstrained_alista", "ALISTA from scratch"),
    ("train_ft", "constrained_ft", "unconstrained_ft", "ALISTA fine-tuned"),
]


def load_pair(folder):
    models = {}
    for path in sorted(glob.glob(os.path.join(folder, "summary*.json"))):
        with open(path) as f:
            data = json.load(f)
        for key in ("constrained", "unconstrained"):
            if key in data:
                models[key] = data[key]
    return models


def load_eval(out, folder):
    """(nmse_db, descent_rate) of a robustness run in OUTPUT_DIR/folder, or None if absent."""
    path = os.path.join(out, folder, "summary.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        ev = json.load(f)
    return ev["nmse_db"], ev["descent_rate"]


def row(cells):
    return "| " + " | ".join(cells) + " |"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "results/robustness"
    try:
        tables(out)
        seed_table(out)
    except BrokenPipeError:  # e.g. piped into head
        pass


def tables(out):
    if not os.path.isdir(out):
        sys.exit(f"robustness_tables.py: {out} is not a folder (run scripts/robustness.sh first)")
    pairs = []
    for folder, cname, tname, label in PAIRS:
        models = load_pair(os.path.join(out, folder))
        if "constrained" in models and "unconstrained" in models:
            pairs.append((label, cname, tname, models))
    if not pairs:
        sys.exit(f"robustness_tables.py: no descent_constrained summaries under {out}/train*/")

    print("### Pairs (validation: 1000 fresh in-distribution signals)\n")
    print(row(["pair", "model", "NMSE layer 16 (dB)", "descent rate", "same, double forward",
               "max held-out slack", "final duals"]))
    print(row(["---"] * 7))
    for label, _, _, models in pairs:
        for key in ("constrained", "unconstrained"):
            m = models[key]
            duals = m["final_duals"]
            dual_text = "(fixed at 0)" if key == "unconstrained" else (
                "all 0" if max(duals) == 0 else ", ".join(f"{d:.2f}" for d in duals))
            print(row([label, key, f"{m['validation_nmse_db']:.2f}", f"{m['validation_descent_rate']:.3f}",
                       f"{m.get('validation_descent_rate_double', float('nan')):.3f}",
                       f"{max(m['validation_slacks']):+.3f}", dual_text]))
        gap = models["constrained"]["validation_nmse_db"] - models["unconstrained"]["validation_nmse_db"]
        print(row([label, "gap (constrained - twin)", f"{gap:+.2f}", "", "", "", ""]))

    depth = len(pairs[0][3]["constrained"]["validation_nmse_db_per_layer"])
    header = ["model"] + [str(l) for l in range(1, depth + 1)]
    for title, field, digits in (("NMSE per layer (dB, validation)", "validation_nmse_db_per_layer", 1),
                                 ("Fraction of validation samples for which layer l decreases F",
                                  "validation_layer_descent_rate", 3)):
        print(f"\n### {title}\n")
        print(row(header))
        print(row(["---"] * len(header)))
        for label, _, _, models in pairs:
            for key in ("constrained", "unconstrained"):
                print(row([f"{label}: {key}"] + [f"{v:.{digits}f}" for v in models[key][field]]))

    loaded = load_eval(out, "eval")
    if loaded is None:
        return
    nmse, rate = loaded
    print("\n### Constrained vs twin under the shifts (test sets of the suite; NMSE dB, > 0 = constrained better)\n")
    for label, cname, tname, _ in pairs:
        if cname not in nmse or tname not in nmse:
            continue
        scenarios = [s for s in nmse[cname] if s != "in_distribution"]
        # A "win" needs the constrained model to work (NMSE < 0 dB: better
        # than the zero estimate) and to beat the twin by >= 0.005 dB (the
        # printed precision); both >= 0 dB is a failure of both, not a win.
        failed = [s for s in scenarios if nmse[cname][s] >= 0 and nmse[tname][s] >= 0]
        better = [(s, nmse[tname][s] - nmse[cname][s]) for s in scenarios
                  if s not in failed and nmse[tname][s] - nmse[cname][s] >= 0.005]
        equal = [s for s in scenarios if s not in failed and abs(nmse[tname][s] - nmse[cname][s]) < 0.005]
        worse = [(s, nmse[cname][s] - nmse[tname][s]) for s in scenarios
                 if s not in failed and nmse[cname][s] - nmse[tname][s] >= 0.005]
        higher_rate = sum(1 for s in scenarios if rate[cname][s] > rate[tname][s])
        ind = "in_distribution"
        print(f"* **{label}** in distribution: {nmse[cname][ind]:.2f} vs {nmse[tname][ind]:.2f} dB "
              f"(descent rate {rate[cname][ind]:.3f} vs {rate[tname][ind]:.3f}). "
              f"Better under {len(better)} of {len(scenarios)} shifted scenarios: "
              + (", ".join(f"{s} +{d:.2f}" for s, d in better) or "none")
              + ". Worse: " + (", ".join(f"{s} by {d:.2f}" for s, d in worse) or "none")
              + ". Equal (< 0.005 dB): " + (", ".join(equal) or "none")
              + ". Both fail (NMSE >= 0 dB): "
              + (", ".join(f"{s} ({nmse[cname][s]:+.1f} vs {nmse[tname][s]:+.1f})" for s in failed) or "none")
              + f". Higher descent rate than its twin in {higher_rate} of {len(scenarios)}.")


def seed_table(out):
    loaded = load_eval(out, "eval_seeds")
    if loaded is None:
        return
    nmse, rate = loaded
    seeds = sorted(int(k[len("constrained_seed"):]) for k in nmse if k.startswith("constrained_seed"))
    print("\n### Step-LISTA pair, one row per scenario, one column per training seed\n")
    print("twin NMSE − constrained NMSE (dB; > 0 = constrained better), descent rate constrained / twin, "
          "constrained NMSE in brackets (≥ 0 dB = diverged)\n")
    print(row(["scenario"] + [f"seed {s}" for s in seeds]))
    print(row(["---"] * (len(seeds) + 1)))
    for scenario in nmse[f"constrained_seed{seeds[0]}"]:
        cells = []
        for s in seeds:
            c, u = f"constrained_seed{s}", f"unconstrained_seed{s}"
            cells.append(f"{nmse[u][scenario] - nmse[c][scenario]:+.2f} ({rate[c][scenario]:.2f} / "
                         f"{rate[u][scenario]:.2f}) [{nmse[c][scenario]:.1f}]")
        print(row([scenario] + cells))


if __name__ == "__main__":
    main()
