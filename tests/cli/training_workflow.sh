#!/usr/bin/env bash
# The stage-1 command-line workflow as a user meets it, on a tiny synthetic dataset:
# train-background, info CKPT, generate; resume equals a straight run; a training killed at
# random moments (mid checkpoint write included) always leaves a loadable checkpoint; bad files,
# an empty dataset and an unwritable output folder are refused with messages that name them.
set -euo pipefail
IMBDEF=${1:?usage: training_workflow.sh path/to/imbdef}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/imbdef_cli_training.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export IMBDEF_NUM_THREADS=2

"$IMBDEF" synth-data --out "$WORK/data" --resolution 32 --channels 1 --good 24 --test-good 0 --defective 0 >/dev/null
DATA="$WORK/data/disc"
COMMON=(--data "$DATA" --preset tiny --batch 8 --metrics-kimg 1 --swd-images 16)

# 1. A run writes its checkpoint, samples, log and report.
"$IMBDEF" train-background "${COMMON[@]}" --kimg 0.064 --snapshot-kimg 0.032 --out "$WORK/straight" >"$WORK/straight.out"
for f in checkpoint.safetensors log.jsonl report.html reals.png samples/000000032.png samples/000000064.png; do
  [[ -s "$WORK/straight/$f" ]] || fail "train-background did not write $f"
done
grep -q '"type":"step"' "$WORK/straight/log.jsonl" || fail "no step records in the log"

# 2. info CKPT describes it.
"$IMBDEF" info "$WORK/straight/checkpoint.safetensors" >"$WORK/info.out"
grep -q "imbdef.background" "$WORK/info.out" || fail "info does not name the checkpoint's kind"
grep -q "images seen     64" "$WORK/info.out" || fail "info does not show the images seen"
grep -q "G_ema" "$WORK/info.out" || fail "info does not list the G_ema group"

# 3. generate writes images, masks and a manifest.
"$IMBDEF" generate --checkpoint "$WORK/straight/checkpoint.safetensors" --count 5 --seed 3 --out "$WORK/gen_a" >/dev/null
[[ $(ls "$WORK/gen_a/images" | wc -l) == 5 && $(ls "$WORK/gen_a/masks" | wc -l) == 5 ]] || fail "generate did not write 5 images and 5 masks"
grep -q '"valid_region"' "$WORK/gen_a/manifest.json" || fail "the manifest does not list the masks"

# 4. Half (stopped as if interrupted), then --resume to the end, gives the same network as the
#    straight run: the same samples, byte for byte.
"$IMBDEF" train-background "${COMMON[@]}" --kimg 0.064 --stop-at-kimg 0.032 --snapshot-kimg 0.032 --out "$WORK/half" >/dev/null
"$IMBDEF" train-background "${COMMON[@]}" --kimg 0.064 --snapshot-kimg 0.032 --out "$WORK/half" \
  --resume "$WORK/half/checkpoint.safetensors" >"$WORK/resume.out"
grep -q "resumed from" "$WORK/resume.out" || fail "the resumed run did not say so"
"$IMBDEF" generate --checkpoint "$WORK/half/checkpoint.safetensors" --count 5 --seed 3 --out "$WORK/gen_b" >/dev/null
for f in "$WORK"/gen_a/images/*.png "$WORK"/gen_a/masks/*.png; do
  cmp -s "$f" "$WORK/gen_b/${f#$WORK/gen_a/}" || fail "resumed run differs from the straight run at ${f#$WORK/gen_a/}"
done

# 5. Killed at random moments (snapshots every step, so some kills land inside a checkpoint
#    write): the checkpoint left behind always loads, and training resumes from it.
for delay in 0.7 1.3 1.9 2.6; do
  RESUME=()
  [[ -f "$WORK/killed/checkpoint.safetensors" ]] && RESUME=(--resume "$WORK/killed/checkpoint.safetensors")
  "$IMBDEF" train-background "${COMMON[@]}" --kimg 2 --snapshot-kimg 0.008 --out "$WORK/killed" "${RESUME[@]}" \
    >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ -f "$WORK/killed/checkpoint.safetensors" ]]; then
    "$IMBDEF" info "$WORK/killed/checkpoint.safetensors" >/dev/null || fail "a kill after ${delay}s left a checkpoint that does not load"
  fi
done
[[ -f "$WORK/killed/checkpoint.safetensors" ]] || fail "no checkpoint was written in the killed runs"
"$IMBDEF" train-background "${COMMON[@]}" --kimg 0.008 --out "$WORK/killed" --resume "$WORK/killed/checkpoint.safetensors" \
  >/dev/null || fail "could not resume after the kills"
if find "$WORK/killed" -name '*.tmp-*' | grep -q .; then fail "half-written temporaries of the killed runs were left behind"; fi

# 6. A bad file stops the run naming it, unless the user asks to skip it (and it is reported).
mkdir -p "$WORK/bad"
cp "$DATA"/train/good/*.png "$WORK/bad/"
echo "not an image" >"$WORK/bad/broken.png"
if "$IMBDEF" train-background --data "$WORK/bad" --preset tiny --batch 8 --kimg 0.008 --out "$WORK/bad_run" 2>"$WORK/bad.err"; then
  fail "a dataset with a corrupt file trained without --skip-bad-files"
fi
grep -q "broken.png" "$WORK/bad.err" || fail "the error does not name the corrupt file: $(cat "$WORK/bad.err")"
"$IMBDEF" train-background --data "$WORK/bad" --preset tiny --batch 8 --kimg 0.008 --metrics-kimg 1 --swd-images 16 \
  --out "$WORK/bad_run" --skip-bad-files >/dev/null 2>"$WORK/skip.err" || fail "--skip-bad-files did not train"
grep -q "skipped .*broken.png" "$WORK/skip.err" || fail "the skipped file was not reported"

# 7. No usable image: refused, naming the folder.
mkdir -p "$WORK/empty"
if "$IMBDEF" train-background --data "$WORK/empty" --preset tiny --out "$WORK/empty_run" 2>"$WORK/empty.err"; then
  fail "an empty dataset trained"
fi
grep -q "$WORK/empty" "$WORK/empty.err" || fail "the error does not name the empty folder: $(cat "$WORK/empty.err")"

# 8. An output folder that cannot be written (a path through a regular file: this works for root
#    too) is refused before any training.
touch "$WORK/not_a_folder"
if "$IMBDEF" train-background "${COMMON[@]}" --kimg 0.008 --out "$WORK/not_a_folder/run" 2>"$WORK/out.err"; then
  fail "training into an unwritable folder succeeded"
fi
grep -q "not_a_folder" "$WORK/out.err" || fail "the error does not name the output folder: $(cat "$WORK/out.err")"
if [[ $(id -u) != 0 ]]; then
  mkdir -p "$WORK/readonly" && chmod 555 "$WORK/readonly"
  if "$IMBDEF" train-background "${COMMON[@]}" --kimg 0.008 --out "$WORK/readonly/run" 2>"$WORK/ro.err"; then
    fail "training into a read-only folder succeeded"
  fi
fi
echo "training workflow: all checks passed"
