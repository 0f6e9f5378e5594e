#!/usr/bin/env bash
# Regenerates docs/PERFORMANCE.md: builds perf_bench (Release, -march=native)
# and runs the side-by-side harness (this framework vs PyTorch, 1 and 2
# threads). Needs python3-torch, python3-numpy and libopenblas0-pthread
# (scripts/install_deps.sh). Takes about 10 minutes (well under 20); run it on an
# otherwise idle machine.
#   bash bench/run_perf.sh                 # -> docs/PERFORMANCE.md
#   BUILD_DIR=/tmp/b bash bench/run_perf.sh --threads 1   # extra flags go to bench/run_perf.py
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-perf}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target perf_bench -j "$(nproc)"
exec /usr/bin/python3 bench/run_perf.py --bench "$BUILD_DIR/bench/perf_bench" \
  --output docs/PERFORMANCE.md --json "$BUILD_DIR/perf_results.json" "$@"
