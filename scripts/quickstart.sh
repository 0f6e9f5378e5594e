#!/usr/bin/env bash
# The README's two commands:
#   scripts/quickstart.sh demo   install packages, build (Release), run the main job
#   scripts/quickstart.sh test   install packages, build (Release), run the whole test suite
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-}"
case "$what" in
  demo|test) ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"

bash scripts/install_deps.sh
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"

if [ "$what" = demo ]; then
  # The main job: finite-depth unrolled networks vs a deep equilibrium model.
  "$BUILD_DIR/experiments/depth_compare" --output results/depth_compare
else
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
fi
