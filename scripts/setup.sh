#!/usr/bin/env bash
# Installs what imbdef needs from the distribution's packages (Debian/Ubuntu). Idempotent: when
# everything is present it only checks, in well under a second. Never downloads anything else.
#
# The CUDA toolkit is optional and not installed here: when nvcc is on PATH (or in
# /usr/local/cuda/bin), imbdef::cuda and the CUDA tests are built as well.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config   # build
  libeigen3-dev                      # dense products in the CPU backend
  xtensor-dev xtl-dev libxsimd-dev   # public image/mask arrays
  doctest-dev                        # tests
  libbenchmark-dev                   # benchmarks
  libstb-dev                         # image files
  nlohmann-json3-dev                 # metadata, checkpoints' headers
  libcli11-dev                       # the command-line program
  chromium                           # tests/cli/report_browser.sh: the reports in a real browser
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "imbdef setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "imbdef setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi


