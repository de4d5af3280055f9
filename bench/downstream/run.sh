#!/usr/bin/env bash
# The detector comparison of docs/results.md, from a clean clone (after scripts/test.sh or a release
# build), on one real defect dataset and the two checkpoints made from it:
#
#   bench/downstream/run.sh DATA STAGE1_CKPT STAGE2_CKPT OUT
#
#   1. the real defects as a labelled dataset: the training third of each class (the images the
#      stage-2 checkpoint learned from: train it with --protocol one-third) as split train, the
#      held-out two thirds as split test (imbdef export-reals);
#   2. COUNT generated defects (imbdef generate, rejection on) and COUNT copy-paste defects on the
#      same stage-1 backgrounds, seed for seed (imbdef copy-paste --protocol one-third);
#   3. bench/downstream/yolo_downstream.py: YOLO from its yaml on real, real + generated and
#      real + copy-paste, the same iterations each (and, with TRAIN_IMAGES=N, the same number of
#      training images each), scored on the held-out reals, for every seed.
#
# All three sets label each mask component of at least MIN_AREA pixels. Knobs (environment):
# COUNT (256), SEED (1, the datasets'), MIN_AREA (4), SEEDS (0,1,2, the detectors'), ITERATIONS
# (2000), TRAIN_IMAGES (0: each condition its own count), MODEL (yolov8n.yaml), IMBDEF
# (build/release/tools/imbdef). Needs `pip install ultralytics`.
set -euo pipefail
cd "$(dirname "$0")/../.."
usage="usage: bench/downstream/run.sh DATA STAGE1_CKPT STAGE2_CKPT OUT"
data="${1:?$usage}"; stage1="${2:?$usage}"; stage2="${3:?$usage}"; out="${4:?$usage}"
imbdef="${IMBDEF:-build/release/tools/imbdef}"
count="${COUNT:-256}"; seed="${SEED:-1}"; min_area="${MIN_AREA:-4}"
mkdir -p "$out"
"$imbdef" export-reals --data "$data" --background "$stage1" --protocol one-third --min-area "$min_area" --skip-bad-files \
  --overwrite --out "$out/reals"
"$imbdef" generate --checkpoint "$stage2" --count "$count" --seed "$seed" --min-area "$min_area" --overwrite --out "$out/generated"
"$imbdef" copy-paste --background "$stage1" --data "$data" --protocol one-third --count "$count" --seed "$seed" \
  --min-area "$min_area" --skip-bad-files --overwrite --out "$out/copy-paste"
YOLO_OFFLINE=1 python3 bench/downstream/yolo_downstream.py --reals "$out/reals" --add "generated=$out/generated" \
  --add "copy-paste=$out/copy-paste" --out "$out/yolo" --seeds "${SEEDS:-0,1,2}" --iterations "${ITERATIONS:-2000}" \
  --model "${MODEL:-yolov8n.yaml}" --train-images "${TRAIN_IMAGES:-0}"
echo "results: $out/yolo/results.md (every run: $out/yolo/results.json)"
