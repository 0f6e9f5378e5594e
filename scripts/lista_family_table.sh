#!/usr/bin/env bash
# Trains every LISTA-family model on the shared benchmark (A 250x500,
# xtest_n500_p10) and writes the results table to docs/RESULTS.md.
#   scripts/lista_family_table.sh [MINUTES_PER_MODEL=40] [SNR=inf] [MODELS...]
#   TABLE_ONLY=1 scripts/lista_family_table.sh 0 inf   # rewrite the table only
# Each model: stage-wise schedule, K = 16, a time budget per model (a model
# stopped by the budget is reported as such, with its checkpoint; rerunning
# the script continues it with --resume). Runs one model at a time on one
# thread per run, two runs in parallel (2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-40}"
snr="${2:-inf}"
shift $(( $# > 2 ? 2 : $# ))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(lista lista-cp lista-ss lista-cpss tilista alista admm)
build="${BUILD_DIR:-build}"
bin="$build/experiments/sparse_recovery"
[ -x "$bin" ] || { echo "build first: bash scripts/quickstart.sh test (or cmake --build $build)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed to write the table" >&2; exit 1; }
# The stage-wise recipe used for the table (see docs/RESULTS.md): the
# reference code's patience rule (any gain resets it) with a shorter window,
# and the stage lengths planned to fit the per-model budget (--plan-minutes;
# --budget-minutes one minute later is only the hard stop).
plan="$(python3 -c "print(max(0.5, float('$minutes') - 1))")"
recipe=(--patience 2000 --validate-every 50 --max-steps-per-stage 8000 --min-improvement-db 0 --plan-minutes "$plan")

run_model() {
  local m="$1" out="results/lista_family/snr_${snr}/$1"
  local resume=() model=("--model" "$1")
  [ -f "$out/checkpoint.ckpt" ] && resume=(--resume)
  # lista-from-cp: LISTA started from the trained LISTA-CP (run lista-cp first;
  # its training time is added to this row's in the table).
  [ "$m" = lista-from-cp ] && model=(--model lista --init-from "results/lista_family/snr_${snr}/lista-cp/checkpoint.ckpt")
  "$bin" "${model[@]}" --snr "$snr" "${recipe[@]}" --budget-minutes "$minutes" --quiet \
         --output "$out" "${resume[@]}" > "$out.log" 2>&1 || echo "$m failed: see $out.log" >&2
}
mkdir -p "results/lista_family/snr_${snr}"
running=0
# TABLE_ONLY=1: no training, only rewrite the section from the summaries there.
[ "${TABLE_ONLY:-0}" = 1 ] && models_to_run=() || models_to_run=("${models[@]}")
for m in "${models_to_run[@]}"; do
  run_model "$m" &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then wait -n; running=$((running - 1)); fi
done
wait
"$build/experiments/sparse_recovery" --model fista --snr "$snr" --output "results/lista_family/snr_${snr}/fista" > /dev/null

python3 - "$snr" "$minutes" "${models[@]}" <<'PY'
import json, os, sys, platform
snr, minutes, models = sys.argv[1], sys.argv[2], sys.argv[3:]
root = f"results/lista_family/snr_{snr}"
rows = []
# Every model with a result in this SNR's folder (not only the ones just
# run), in the table's fixed order.
order = ["lista", "lista-from-cp", "lista-cp", "lista-ss", "lista-cpss", "tilista", "alista", "admm"]
shown = [m for m in order if m in models or os.path.exists(os.path.join(root, m, "summary.json"))]
for m in shown + ["fista"]:
    path = os.path.join(root, m, "summary.json")
    if not os.path.exists(path):
        rows.append(f"| {m} | (no result) | | | |")
        continue
    s = json.load(open(path))
    status = s["training_report"].split(",")[0].replace("stage-wise training: ", "")
    minutes_used = s["train_seconds"] / 60
    if m == "lista-from-cp":  # its starting point cost the lista-cp run's time too
        cp = os.path.join(root, "lista-cp", "summary.json")
        if s.get("init_from_train_seconds", 0) > 0:  # recorded by the run itself
            minutes_used += s["init_from_train_seconds"] / 60
            status += " (time includes lista-cp's)"
        elif os.path.exists(cp):  # runs from before that field existed
            minutes_used += json.load(open(cp))["train_seconds"] / 60
            status += " (time includes lista-cp's)"
    rows.append(f"| {m} | {s['nmse_db_final']:.2f} | {minutes_used:.1f} | {s['num_params']} | {status} |")
table = "\n".join(rows)
out = "docs/RESULTS.md"
section = f"""
## SNR {snr} dB ("training (min)": the total over all resumed runs; see the recipes above)

| model | test NMSE at layer 16 (dB) | training (min) | parameters | training status |
|---|---|---|---|---|
{table}
"""
header = "# LISTA family on the standard benchmark\n\nWritten by `scripts/lista_family_table.sh` (see the top of that script).\n"
text = open(out).read() if os.path.exists(out) else header
marker = f"\n## SNR {snr} dB"
if marker in text:
    start = text.index(marker)
    end = text.find("\n## ", start + 1)
    text = text[:start] + section.rstrip("\n") + ("\n" + text[end:] if end != -1 else "\n")
else:
    text = text.rstrip("\n") + "\n" + section
open(out, "w").write(text)
print(section)
PY
