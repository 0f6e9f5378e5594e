#!/usr/bin/env bash
# Regenerates the numbers of docs/ROBUSTNESS.md (issue 6):
#   1. descent_constrained, three pairs (a constrained network, K = 16, and its
#      unconstrained twin: same initialisation, batches, Adam schedule and step
#      budget; the twin's duals stay 0), batch 64, the shared 250 x 500
#      benchmark matrix, noiseless training, seed 0:
#      * train/ ("constrained", "unconstrained"; the main pair): Step-LISTA
#        (model slista: W = A fixed, per-layer step and threshold, support
#        selection) from ISTA's initialisation, $SLISTA_STEPS steps at lr 2e-3,
#        the paper's expectation constraints on the prox-gradient mapping
#        norm ||G||, eps 0, dual step 1;
#      * train_alista/ ("constrained_alista", "unconstrained_alista"): the same
#        constraints on ALISTA from its analytic initialisation, $STEPS steps
#        at lr 2e-3 (the binary's defaults);
#      * train_ft/ ("constrained_ft", "unconstrained_ft"; FINETUNE=0 skips):
#        both start from the stage-wise trained ALISTA checkpoint $INIT
#        (default results/lista_family/snr_inf/alista/checkpoint.ckpt, copied
#        to OUTPUT_DIR/init_alista.ckpt), lr 5e-4, $STEPS steps; the
#        constrained one with per-sample hinge constraints on log F (eps 0,
#        tau 0, dual step 10): every layer must decrease the LASSO objective
#        F for every sample;
#   2. robustness: the three pairs, plus every trained LISTA-family checkpoint
#      found under results/lista_family/snr_inf/, vs ISTA / FISTA under the
#      shifts. The descent rate (and the constraints) use F at lambda
#      $DLAMBDA = 0.001.
# Run from the repository root after building (Release):
#   bash scripts/robustness.sh [BUILD_DIR] [OUTPUT_DIR]
# Defaults: build, results/robustness. Single-threaded; each model takes
# 1-5 min (idle vs loaded 2-core machine), the evaluation about 3-5 min.
# PARALLEL=1 trains the two models of a pair at the same time.
# SEEDS="1 2" also trains the Step-LISTA pair with those seeds (train_seed<s>/)
# and evaluates every seed's pair, seed 0 included, on the same test data
# (eval_seeds/; about 3 min per extra seed).
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-results/robustness}
STEPS=${STEPS:-1500}
SLISTA_STEPS=${SLISTA_STEPS:-3000}
DLAMBDA=${DLAMBDA:-0.001}
INIT=${INIT:-results/lista_family/snr_inf/alista/checkpoint.ckpt}
mkdir -p "$OUT"
COMMON=(--layers 16 --batch-size 64 --noise-std 0 --record-every 10 --quiet --threads 1
        --descent-lambda "$DLAMBDA" --epsilon 0)
# Main pair: Step-LISTA, the paper's expectation constraints on ||G||.
SLISTA_RECIPE=(--model slista --steps "$SLISTA_STEPS" --lr 0.002 --min-lr 1e-05 --dual-lr 1)
# ALISTA from its analytic initialisation, the same constraints.
ALISTA_RECIPE=(--model alista --steps "$STEPS" --lr 0.002 --min-lr 2e-05 --dual-lr 1)
# ALISTA fine-tuned from the stage-wise checkpoint, per-sample hinge on log F.
FINE_RECIPE=(--model alista --steps "$STEPS" --init-from "$OUT/init_alista.ckpt" --lr 0.0005 --min-lr 5e-06
             --hinge --hinge-tolerance 0 --descent-measure log-objective --dual-lr 10)
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
pair "$OUT/train" "${SLISTA_RECIPE[@]}"
MODELS="constrained=$OUT/train/constrained/checkpoint.ckpt,unconstrained=$OUT/train/unconstrained/checkpoint.ckpt"
pair "$OUT/train_alista" "${ALISTA_RECIPE[@]}"
MODELS="$MODELS,constrained_alista=$OUT/train_alista/constrained/checkpoint.ckpt"
MODELS="$MODELS,unconstrained_alista=$OUT/train_alista/unconstrained/checkpoint.ckpt"
if [ "${FINETUNE:-1}" = 1 ]; then
  [ -f "$INIT" ] || { echo "robustness.sh: $INIT not found: train it first (docs/ROBUSTNESS.md) or set FINETUNE=0" >&2; exit 1; }
  [ "$INIT" -ef "$OUT/init_alista.ckpt" ] || cp "$INIT" "$OUT/init_alista.ckpt"
  pair "$OUT/train_ft" "${FINE_RECIPE[@]}"
  MODELS="$MODELS,constrained_ft=$OUT/train_ft/constrained/checkpoint.ckpt"
  MODELS="$MODELS,unconstrained_ft=$OUT/train_ft/unconstrained/checkpoint.ckpt"
fi
for m in alista tilista slista lista-cpss lista-cp lista lista-ss admm; do
  ckpt="results/lista_family/snr_inf/$m/checkpoint.ckpt"
  if [ -f "$ckpt" ]; then MODELS="$MODELS,$m=$ckpt"; fi
done
"$BUILD/experiments/robustness" --models "$MODELS" --descent-lambda "$DLAMBDA" --baseline-lambda 0.1 \
    --test-samples 1000 --output "$OUT/eval" --quiet
if [ -n "${SEEDS:-}" ]; then
  SEED_MODELS="constrained_seed0=$OUT/train/constrained/checkpoint.ckpt,unconstrained_seed0=$OUT/train/unconstrained/checkpoint.ckpt"
  for s in $SEEDS; do
    pair "$OUT/train_seed$s" "${SLISTA_RECIPE[@]}" --seed "$s"
    SEED_MODELS="$SEED_MODELS,constrained_seed$s=$OUT/train_seed$s/constrained/checkpoint.ckpt"
    SEED_MODELS="$SEED_MODELS,unconstrained_seed$s=$OUT/train_seed$s/unconstrained/checkpoint.ckpt"
  done
  "$BUILD/experiments/robustness" --models "$SEED_MODELS" --descent-lambda "$DLAMBDA" --baseline-lambda 0.1 \
      --test-samples 1000 --output "$OUT/eval_seeds" --quiet
fi
