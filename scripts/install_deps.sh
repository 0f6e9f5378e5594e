#!/usr/bin/env bash
# Installs the system packages the project needs (Debian 12), skipping those
# already present. Needs root or sudo. Safe to run repeatedly.
set -euo pipefail

PACKAGES=(
  build-essential cmake            # compiler, make, CMake >= 3.20
  libeigen3-dev                    # Eigen 3.4: all linear algebra
  libceres-dev                     # Ceres Solver 2.1
  libboost-program-options-dev     # every binary's CLI
  doctest-dev                      # tests
  python3-torch python3-numpy      # bench/run_perf.py: the PyTorch side (CTest perf_harness_smoke)
  libopenblas0-pthread             # fast BLAS for PyTorch (with ATLAS the comparison would flatter us)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all system packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install_deps: missing packages (${missing[*]}) and not root; run as root or install sudo" >&2
    exit 1
  fi
fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
