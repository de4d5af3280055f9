#!/usr/bin/env bash
# Stage 2 through the command line on the built-in synthetic data: a short stage-1 run, a short
# stage-2 run on its defects, a labelled dataset from it, and the refusals a user meets.
set -euo pipefail
IMBDEF="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$IMBDEF" train-background --preset tiny --kimg 0.016 --batch 4 --out "$WORK/stage1" >/dev/null
"$IMBDEF" train-defect --background "$WORK/stage1/checkpoint.safetensors" --out "$WORK/stage2" --kimg 0.016 \
  --snapshot-kimg 0.008 --batch 4 >"$WORK/train.out"
grep -q "total *20" "$WORK/train.out" || fail "train-defect does not print the per-class counts"
[ -f "$WORK/stage2/checkpoint.safetensors" ] || fail "no stage-2 checkpoint"
[ -f "$WORK/stage2/reals.png" ] || fail "no grid of the training defects"
ls "$WORK/stage2/samples/"*.png >/dev/null || fail "no sample grids"
grep -q '"esl"' "$WORK/stage2/log.jsonl" || fail "the log does not name the ESL term"
grep -q '"type":"metrics".*"when":"end"' "$WORK/stage2/log.jsonl" || fail "no defect metrics logged at the end"
grep -q '"crop_swd"' "$WORK/stage2/log.jsonl" || fail "the metrics record has no defect-crop SWD"
[ -f "$WORK/stage2/report.html" ] || fail "no stage-2 report"
"$IMBDEF" info "$WORK/stage2/checkpoint.safetensors" | grep -q "imbdef.defect" || fail "info does not name the stage-2 kind"

# A dataset, every sample kept, two defects per image, resized.
"$IMBDEF" generate --checkpoint "$WORK/stage2/checkpoint.safetensors" --out "$WORK/dataset" --count 6 --seed 1 \
  --defects-per-image 2 --size 48x40 --no-reject >/dev/null
[ "$(ls "$WORK/dataset/images/train" | wc -l)" = 6 ] || fail "generate did not write 6 images"
[ "$(ls "$WORK/dataset/labels/train" | wc -l)" = 6 ] || fail "generate did not write 6 label files"
grep -q "nc: 4" "$WORK/dataset/data.yaml" || fail "data.yaml does not list the 4 synthetic defect classes"
[ -f "$WORK/dataset/annotations/train.json" ] || fail "no COCO file"

# Refusals, each naming what was wrong.
if "$IMBDEF" generate --checkpoint "$WORK/stage2/checkpoint.safetensors" --out "$WORK/x" --count 0 2>"$WORK/err"; then fail "--count 0 accepted"; fi
if "$IMBDEF" generate --checkpoint "$WORK/stage2/checkpoint.safetensors" --out "$WORK/x" --class rust 2>"$WORK/err"; then fail "an unknown class accepted"; fi
grep -q "crack, hole, scratch, stain" "$WORK/err" || fail "an unknown class is not answered with the known ones"
if "$IMBDEF" train-defect --background "$WORK/stage2/checkpoint.safetensors" --out "$WORK/y" --kimg 0.004 2>"$WORK/err"; then
  fail "a stage-2 checkpoint accepted as the stage-1 background"; fi
grep -q "stage-1" "$WORK/err" || fail "the wrong background checkpoint is not named"
if "$IMBDEF" train-defect --background "$WORK/stage1/checkpoint.safetensors" --out "$WORK/y" --batch 3 2>"$WORK/err"; then fail "an odd batch accepted"; fi
if "$IMBDEF" train-defect --background "$WORK/stage1/checkpoint.safetensors" --out "$WORK/y" --classes hole,rust 2>"$WORK/err"; then
  fail "an unknown --classes name accepted"; fi
grep -q "expected classes of the dataset (crack, hole, scratch, stain), found 'rust'" "$WORK/err" || fail "an unknown --classes name is not answered with the known ones"
"$IMBDEF" train-background --preset tiny --kimg 0.004 --batch 4 --seed 9 --out "$WORK/other1" >/dev/null
if "$IMBDEF" train-defect --background "$WORK/other1/checkpoint.safetensors" --out "$WORK/z" --kimg 0.032 \
   --resume "$WORK/stage2/checkpoint.safetensors" --batch 4 2>"$WORK/err"; then fail "a resume on another stage-1 checkpoint accepted"; fi
grep -q "background_checkpoint_hash" "$WORK/err" || fail "the resume refusal does not name the stage-1 hash"
echo "defect workflow: ok"
