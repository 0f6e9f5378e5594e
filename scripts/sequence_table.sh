#!/usr/bin/env bash
# Regenerates the tables of docs/SEQUENCES.md: sequence_recovery on correlated
# sequences (default drift 0.1) and on uncorrelated ones (drift 1: every
# component is replaced every frame, so frames are independent).
#   scripts/sequence_table.sh [extra sequence_recovery flags]
# BIN (default build/experiments/sequence_recovery) and OUT (default
# results/sequences) can be overridden from the environment. One core.
set -euo pipefail
BIN=${BIN:-build/experiments/sequence_recovery}
OUT=${OUT:-results/sequences}
"$BIN" --threads 1 --seed 1 --drift 0.1 --output "$OUT/correlated" "$@"
"$BIN" --threads 1 --seed 1 --drift 1 --models dust,dust-a,causal,lista,alista,fista --output "$OUT/uncorrelated" "$@"
echo "### correlated sequences (drift 0.1)"
cat "$OUT/correlated/table.md"
echo
echo "### uncorrelated sequences (drift 1)"
cat "$OUT/uncorrelated/table.md"
