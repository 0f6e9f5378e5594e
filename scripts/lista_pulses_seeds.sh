#!/usr/bin/env bash
# Runs lista_pulses (seed article set-up, defaults) for seeds 0..N-1 and
# prints one line per seed: training-sample NMSE, held-out NMSE. Used for the
# README's robustness-over-seeds figure.
#   scripts/lista_pulses_seeds.sh [N=10] [BUILD_DIR=build]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10}"
build="${BUILD_DIR:-build}"
echo "seed,train_nmse_db,test_nmse_db"
for ((s = 0; s < n; ++s)); do
  out="results/lista_pulses_seeds/seed$s"
  "$build/experiments/lista_pulses" --seed "$s" --output "$out" > /dev/null
  python3 -c "import json,sys; d=json.load(open('$out/summary.json')); print('$s,%.2f,%.2f' % (d['train_nmse_db'], d['test_nmse_db']))"
done
