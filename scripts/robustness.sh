#!/usr/bin/env bash
# Regenerates the numbers of docs/ROBUSTNESS.md (issue 6):
#   1. descent_constrained, two pairs (a constrained ALISTA network, K = 16, and
#      its unconstrained twin: same initialisation, batches, Adam schedule and
#      step budget, the twin's duals stay 0), $STEPS Adam steps, batch 64, on
#      the shared 250 x 500 benchmark matrix, noiseless training:
#      * train/    ("constrained", "unconstrained"): from ALISTA's analytic
#        initialisation, the paper's expectation constraints on the
#        prox-gradient mapping norm ||G||, eps 0, lr 2e-3 (binary defaults);
#      * train_ft/ ("constrained_ft", "unconstrained_ft"; FINETUNE=0 skips):
#        both start from the stage-wise trained ALISTA checkpoint $INIT
#        (default results/lista_family/snr_inf/alista/checkpoint.ckpt, copied
#        to OUTPUT_DIR/init_alista.ckpt), lr 5e-4; the constrained one with
#        per-sample hinge constraints on log F (eps 0, tau 0, dual step 10):
#        every layer must decrease the LASSO objective F for every sample;
#   2. robustness: both pairs, plus every trained LISTA-family checkpoint found
#      under results/lista_family/snr_inf/, vs ISTA / FISTA under the shifts.
#      The descent rate (and the constraints) use F at lambda $DLAMBDA = 0.001.
# Run from the repository root after building (Release):
#   bash scripts/robustness.sh [BUILD_DIR] [OUTPUT_DIR]
# Defaults: build, results/robustness. Single-threaded; each 1500-step model
# takes 1-4 min (idle vs loaded 2-core machine), the evaluation about 2-4 min.
# PARALLEL=1 trains the two models of a pair at the same time.
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-results/robustness}
STEPS=${STEPS:-1500}
DLAMBDA=${DLAMBDA:-0.001}
INIT=${INIT:-results/lista_family/snr_inf/alista/checkpoint.ckpt}
mkdir -p "$OUT"
[ "$INIT" -ef "$OUT/init_alista.ckpt" ] || cp "$INIT" "$OUT/init_alista.ckpt"
COMMON=(--model alista --layers 16 --steps "$STEPS" --batch-size 64 --noise-std 0
        --record-every 10 --quiet --threads 1)
FINE=(--init-from "$OUT/init_alista.ckpt" --lr 0.0005 --min-lr 5e-06 --descent-lambda "$DLAMBDA"
      --epsilon 0 --hinge --hinge-tolerance 0 --descent-measure log-objective --dual-lr 10)
# From ALISTA's analytic initialisation: the paper's expectation constraints on ||G||, eps 0.
SCRATCH_RECIPE=(--lr 0.002 --min-lr 2e-05 --epsilon 0 --dual-lr 1 --descent-lambda "$DLAMBDA")
train() {
  "$BUILD/experiments/descent_constrained" "${COMMON[@]}" "$@"
}
pair() {  # DIR RECIPE...: the constrained model and its twin
  local dir=$1
  shift
  if [ "${PARALLEL:-0}" = 1 ]; then
    train "$@" --which constrained --output "$dir" &
    train "$@" --which unconstrained --output "$dir" &
    wait
  else
    train "$@" --which both --output "$dir"
  fi
}
pair "$OUT/train" "${SCRATCH_RECIPE[@]}"
MODELS="constrained=$OUT/train/constrained/checkpoint.ckpt,unconstrained=$OUT/train/unconstrained/checkpoint.ckpt"
if [ "${FINETUNE:-1}" = 1 ]; then
  pair "$OUT/train_ft" "${FINE[@]}"
  MODELS="$MODELS,constrained_ft=$OUT/train_ft/constrained/checkpoint.ckpt"
  MODELS="$MODELS,unconstrained_ft=$OUT/train_ft/unconstrained/checkpoint.ckpt"
fi
for m in alista tilista lista-cpss lista-cp lista lista-ss admm; do
  ckpt="results/lista_family/snr_inf/$m/checkpoint.ckpt"
  if [ -f "$ckpt" ]; then MODELS="$MODELS,$m=$ckpt"; fi
done
"$BUILD/experiments/robustness" --models "$MODELS" --descent-lambda "$DLAMBDA" --baseline-lambda 0.1 \
    --test-samples 1000 --output "$OUT/eval" --quiet
