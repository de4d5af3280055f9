#!/usr/bin/env bash
# Sets up, builds and runs imbdef's main job on the built-in synthetic data, then prints where the
# outputs are:
#   1. write the built-in synthetic dataset (discs and plates on a backdrop, with exact masks and
#      valid regions, MVTec AD layout),
#   2. train the background stage (stage 1: the background generator with its valid-region mask,
#      D_img and D_match, ADA, lazy R1) with the cpu64 preset for about ten minutes on this
#      machine's cores (IMBDEF_DEMO_MINUTES to change), writing checkpoints, sample grids, a
#      JSON-lines log and an HTML report as it goes,
#   3. generate background images and their valid-region masks from the checkpoint,
#   4. train the defect stage (stage 2: the defect branch on the frozen background, all four defect
#      types in one model) on the dataset's few defect images for a few minutes
#      (IMBDEF_DEMO_DEFECT_MINUTES, default 4),
#   5. generate a labelled defect dataset from it: YOLO labels, COCO JSON, data.yaml.
#   scripts/demo.sh [out_dir]     (default: runs/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

out="${1:-runs/demo}"
minutes="${IMBDEF_DEMO_MINUTES:-10}"
defect_minutes="${IMBDEF_DEMO_DEFECT_MINUTES:-4}"
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target imbdef_cli
imbdef=./build/release/tools/imbdef

mkdir -p "$out"
"$imbdef" synth-data --out "$out/data" --resolution 64 --good 500 --defective 20 --scenes disc plate --overwrite
# The run's length sets the schedules (PGDI's progress, the EMA ramp); the time bound stops it
# early with a checkpoint, from which `--resume` continues the same run.
"$imbdef" train-background --data "$out/data/mixed" --preset cpu64 --kimg 6 --max-minutes "$minutes" \
  --snapshot-kimg 0.5 --metrics-kimg 2 --out "$out/train"
"$imbdef" generate --checkpoint "$out/train/checkpoint.safetensors" --count 32 --seed 1 --out "$out/generated"
"$imbdef" info "$out/train/checkpoint.safetensors" > "$out/checkpoint_info.txt"
"$imbdef" train-defect --background "$out/train/checkpoint.safetensors" --data "$out/data/mixed" --kimg 2 \
  --max-minutes "$defect_minutes" --snapshot-kimg 0.25 --out "$out/defects"
"$imbdef" generate --checkpoint "$out/defects/checkpoint.safetensors" --count 64 --seed 1 --out "$out/dataset" --overwrite

echo
echo "demo outputs are in $(cd "$out" && pwd):"
echo "  data/mixed/             the synthetic dataset (train/good, test/<defect>, ground_truth, valid_region)"
echo "  train/report.html       the training report: sample grids over time, loss and SWD curves, config"
echo "  train/samples/          sample grids (image | valid region) of the EMA generator"
echo "  train/checkpoint.safetensors  the trained background stage (imbdef info, imbdef generate)"
echo "  generated/              32 generated backgrounds with their valid-region masks and a manifest"
echo "  defects/report.html     the stage-2 report: defects per class beside the real ones, every loss term, the metrics"
echo "  defects/samples/        stage-2 sample grids (background | defect | mask outline), one file per snapshot"
echo "  dataset/                a labelled defect dataset: images/, labels/ (YOLO), annotations/ (COCO), data.yaml"
