#!/usr/bin/env bash
# Sets up, builds and runs imbdef's main job on built-in data, then prints where the outputs are.
# The main job grows with the library; today it is the foundation tour (examples/foundation_tour.cpp):
# Philox draws through an op and its gradient, written as a PNG and a JSON summary.
#   scripts/demo.sh [out_dir]     (default: runs/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

out="${1:-runs/demo}"
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target foundation_tour
./build/release/examples/foundation_tour "$out"
echo "demo outputs are in $(cd "$out" && pwd)"
