#!/usr/bin/env bash
# Native-scale patches through the command line: both stages train with --patch (the preset's
# resolution a side, cut from the images at --scale), the checkpoints record it, a resumed patch
# run continues bit for bit, and every mix of patch and whole-image models is refused naming
# which is which, as is a scale that makes the images smaller than a patch.
set -euo pipefail
IMBDEF="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$IMBDEF" synth-data --out "$WORK/data" --resolution 96 --channels 3 --good 12 --test-good 0 --defective 8 --scenes disc >/dev/null
DATA="$WORK/data/disc"
"$IMBDEF" train-background --preset tiny --kimg 0.016 --batch 4 --data "$DATA" --patch --out "$WORK/p1" >"$WORK/p1.out" ||
  fail "train-background --patch failed"
grep -q "native-scale patches of 32x32 at scale 1" "$WORK/p1.out" || fail "the run does not say it trains on patches: $(cat "$WORK/p1.out")"
"$IMBDEF" info "$WORK/p1/checkpoint.safetensors" | grep -q "patch_scale *1" || fail "the stage-1 checkpoint does not record patch_scale"

# Bit for bit: 0.008 kimg, resume, 0.008 more equals 0.016 straight (compared through generation).
"$IMBDEF" train-background --preset tiny --kimg 0.016 --stop-at-kimg 0.008 --batch 4 --data "$DATA" --patch --out "$WORK/half" >/dev/null
"$IMBDEF" train-background --preset tiny --kimg 0.016 --batch 4 --data "$DATA" --patch --resume "$WORK/half/checkpoint.safetensors" \
  --out "$WORK/half" >/dev/null
"$IMBDEF" generate --checkpoint "$WORK/p1/checkpoint.safetensors" --count 4 --seed 1 --out "$WORK/g_straight" >/dev/null
"$IMBDEF" generate --checkpoint "$WORK/half/checkpoint.safetensors" --count 4 --seed 1 --out "$WORK/g_resumed" >/dev/null
for f in "$WORK"/g_straight/images/*.png; do
  cmp -s "$f" "$WORK/g_resumed/images/$(basename "$f")" || fail "a resumed patch run differs: $(basename "$f")"
done
# A patch run resumed as a whole-image one (and the reverse) is refused by the configuration.
if "$IMBDEF" train-background --preset tiny --kimg 0.024 --batch 4 --data "$DATA" --resume "$WORK/p1/checkpoint.safetensors" \
  --out "$WORK/mixed" 2>"$WORK/err"; then fail "a patch run resumed without --patch"; fi
grep -q "patch_scale" "$WORK/err" || fail "the refusal does not name patch_scale: $(cat "$WORK/err")"

# Stage 2 on patches.
"$IMBDEF" train-defect --background "$WORK/p1/checkpoint.safetensors" --data "$DATA" --patch --kimg 0.008 --batch 4 \
  --out "$WORK/p2" >"$WORK/p2.out" || fail "train-defect --patch failed: $(tail -3 "$WORK/p2.out")"
"$IMBDEF" info "$WORK/p2/checkpoint.safetensors" | grep -q "patch_scale *1" || fail "the stage-2 checkpoint does not record patch_scale"
"$IMBDEF" generate --checkpoint "$WORK/p2/checkpoint.safetensors" --count 4 --seed 1 --no-reject --out "$WORK/d" >/dev/null
python3 - "$WORK/d/manifest.json" <<'PY' || fail "patch samples are not 32 x 32"
import json, struct, sys, os
m = json.load(open(sys.argv[1]))
root = os.path.dirname(sys.argv[1])
for s in m["samples"]:
    with open(os.path.join(root, s["image"]), "rb") as f:
        head = f.read(24)
    w, h = struct.unpack(">II", head[16:24])
    assert (w, h) == (32, 32), (s["image"], w, h)
PY

# Mixing is refused, naming which is which.
"$IMBDEF" train-background --preset tiny --kimg 0.008 --batch 4 --data "$DATA" --out "$WORK/w1" >/dev/null
if "$IMBDEF" train-defect --background "$WORK/w1/checkpoint.safetensors" --data "$DATA" --patch --kimg 0.008 --batch 4 \
  --out "$WORK/x1" 2>"$WORK/err"; then fail "a patch defect stage on a whole-image stage 1"; fi
grep -q "native-scale patches" "$WORK/err" && grep -q "whole images" "$WORK/err" || fail "the refusal does not say which is which: $(cat "$WORK/err")"
if "$IMBDEF" train-defect --background "$WORK/p1/checkpoint.safetensors" --data "$DATA" --kimg 0.008 --batch 4 \
  --out "$WORK/x2" 2>"$WORK/err"; then fail "a whole-image defect stage on a patch stage 1"; fi
grep -q "native-scale patches" "$WORK/err" || fail "the refusal does not name the patch model: $(cat "$WORK/err")"
if "$IMBDEF" train-defect --background "$WORK/p1/checkpoint.safetensors" --data "$DATA" --patch --scale 0.5 --kimg 0.008 --batch 4 \
  --out "$WORK/x3" 2>"$WORK/err"; then fail "a defect stage at another scale than its stage 1"; fi
for x in x1 x2 x3; do [ ! -e "$WORK/$x" ] || fail "a refused defect stage left its run folder $x"; done
# A scale that leaves the images smaller than a patch names an image.
if "$IMBDEF" train-background --preset tiny --kimg 0.008 --batch 4 --data "$DATA" --patch --scale 0.25 --out "$WORK/x4" 2>"$WORK/err"; then
  fail "images smaller than a patch accepted"; fi
grep -q "\.png" "$WORK/err" && grep -q "patch side 32" "$WORK/err" || fail "the refusal does not name the image: $(cat "$WORK/err")"
echo "patch training: ok"
