#!/usr/bin/env bash
# `imbdef slim`: an inference checkpoint keeps what generating and starting a defect stage read,
# bit for bit. Backgrounds from it equal the full checkpoint's byte for byte; a defect stage
# trained on it equals one trained on the full checkpoint (compared through what it generates);
# it is a fraction of the size; resuming from it, slimming it again or slimming a foreign file is
# refused by name, and a refusal writes nothing.
set -euo pipefail
IMBDEF="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$IMBDEF" synth-data --out "$WORK/data" --resolution 32 --channels 3 --good 8 --test-good 0 --defective 8 --scenes disc >/dev/null
"$IMBDEF" train-background --preset tiny --kimg 0.008 --batch 4 --data "$WORK/data/disc" --out "$WORK/stage1" >/dev/null
full="$WORK/stage1/checkpoint.safetensors"
"$IMBDEF" slim --checkpoint "$full" --out "$WORK/slim1.safetensors" >"$WORK/slim.out" || fail "slim failed"
grep -q "G_ema, D_img of" "$WORK/slim.out" || fail "slim did not say what it kept: $(cat "$WORK/slim.out")"
full_size=$(stat -c %s "$full"); slim_size=$(stat -c %s "$WORK/slim1.safetensors")
[ $((slim_size * 3)) -lt "$full_size" ] || fail "the inference checkpoint ($slim_size bytes) is not under a third of $full_size"
"$IMBDEF" info "$WORK/slim1.safetensors" | grep -q '"inference"' || fail "info does not show the contents"

# Backgrounds: byte for byte.
"$IMBDEF" generate --checkpoint "$full" --count 4 --seed 3 --out "$WORK/bg_full" >/dev/null
"$IMBDEF" generate --checkpoint "$WORK/slim1.safetensors" --count 4 --seed 3 --out "$WORK/bg_slim" >/dev/null
n=0
for f in "$WORK"/bg_full/images/*.png "$WORK"/bg_full/masks/*.png; do
  g="$WORK/bg_slim/${f#"$WORK/bg_full/"}"
  cmp -s "$f" "$g" || fail "background ${f#"$WORK/bg_full/"} differs between the full and the slim checkpoint"
  n=$((n + 1))
done
[ "$n" -eq 8 ] || fail "compared $n background files, expected 8"

# A defect stage on either: the same training, so the same generated defects.
for which in full slim; do
  ckpt="$full"; [ "$which" = slim ] && ckpt="$WORK/slim1.safetensors"
  "$IMBDEF" train-defect --background "$ckpt" --data "$WORK/data/disc" --kimg 0.008 --batch 4 --out "$WORK/s2_$which" >/dev/null
  "$IMBDEF" generate --checkpoint "$WORK/s2_$which/checkpoint.safetensors" --count 4 --seed 2 --no-reject --out "$WORK/d_$which" >/dev/null
done
n=0
for f in "$WORK"/d_full/images/train/*.png; do
  cmp -s "$f" "$WORK/d_slim/images/train/$(basename "$f")" || fail "defect image $(basename "$f") differs between the two stage-2 runs"
  n=$((n + 1))
done
[ "$n" -eq 4 ] || fail "compared $n defect images, expected 4"

# A stage-2 checkpoint slims to G_ema and still generates the same dataset.
"$IMBDEF" slim --checkpoint "$WORK/s2_full/checkpoint.safetensors" --out "$WORK/slim2.safetensors" | grep -q "G_ema of" ||
  fail "a stage-2 checkpoint did not slim to G_ema"
"$IMBDEF" generate --checkpoint "$WORK/slim2.safetensors" --count 4 --seed 2 --no-reject --out "$WORK/d_slim2" >/dev/null
for f in "$WORK"/d_full/images/train/*.png; do
  cmp -s "$f" "$WORK/d_slim2/images/train/$(basename "$f")" || fail "the slim stage-2 checkpoint generates $(basename "$f") differently"
done

# Refusals.
if "$IMBDEF" train-background --preset tiny --kimg 0.016 --batch 4 --data "$WORK/data/disc" --resume "$WORK/slim1.safetensors" \
  --out "$WORK/resumed" 2>"$WORK/err"; then fail "a run resumed from an inference checkpoint"; fi
grep -q "inference checkpoint" "$WORK/err" || fail "the resume refusal does not say why: $(cat "$WORK/err")"
if "$IMBDEF" slim --checkpoint "$WORK/slim1.safetensors" --out "$WORK/again.safetensors" 2>"$WORK/err"; then fail "slimmed twice"; fi
grep -q "already an inference checkpoint" "$WORK/err" || fail "the second slim's refusal does not say why: $(cat "$WORK/err")"
[ ! -e "$WORK/again.safetensors" ] || fail "a refused slim wrote its output"
echo "not a checkpoint" > "$WORK/junk.safetensors"
if "$IMBDEF" slim --checkpoint "$WORK/junk.safetensors" --out "$WORK/junk_slim.safetensors" 2>/dev/null; then fail "slimmed a junk file"; fi
[ ! -e "$WORK/junk_slim.safetensors" ] || fail "a refused slim wrote its output"
echo "slim checkpoint: ok"
