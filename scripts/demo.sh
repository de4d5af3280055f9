#!/usr/bin/env bash
# Sets up, builds and runs imbdef's main job on the built-in synthetic data, then prints where the
# outputs are. Training is not in the library yet, so the main job today is the path that exists:
#   1. write the built-in synthetic dataset (defect-free and defective parts with exact masks and
#      valid regions, MVTec AD layout),
#   2. print the layer tables of the cpu64 networks,
#   3. time generation with the cpu64 background generator on this machine,
#   4. run the foundation tour (Philox draws through an op and its gradient, as PNG and JSON).
#   scripts/demo.sh [out_dir]     (default: runs/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

out="${1:-runs/demo}"
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target imbdef_cli foundation_tour
imbdef=./build/release/tools/imbdef

mkdir -p "$out"
"$imbdef" synth-data --out "$out/data" --resolution 128 --good 200 --defective 20 --scenes disc plate --overwrite
"$imbdef" info --preset cpu64 | tee "$out/cpu64_networks.txt"
echo "timing generation (cpu64, batch 8):"
"$imbdef" benchmark --preset cpu64 --what generate --batch 8 --iterations 5 | tee "$out/benchmark.json"
./build/release/examples/foundation_tour "$out/tour"

echo
echo "demo outputs are in $(cd "$out" && pwd):"
echo "  data/mixed/          the synthetic dataset (train/good, test/<defect>, ground_truth, valid_region, manifest.json)"
echo "  cpu64_networks.txt   layer tables with parameters and FLOPs"
echo "  benchmark.json       generation speed on this machine"
echo "  tour/                the foundation tour's image and summary"
