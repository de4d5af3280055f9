#!/usr/bin/env bash
# Stage 2 under faults, through the command line (tiny preset, a few steps each):
#   1. kill -9 at random moments of a run that snapshots every step (some kills land inside a
#      checkpoint write): the checkpoint left behind always loads, --resume continues, and no
#      half-written checkpoint is left once training goes on;
#   2. a stage-1 checkpoint of another preset under --resume of a stage-2 checkpoint is refused
#      naming the preset; a defect set at another resolution is resized and trains, a mask whose
#      size differs from its image is refused naming the file;
#   3. a class with exactly one image trains, and under the one-third protocol that image trains;
#   4. an output folder that cannot be written is refused naming it, and nothing is left in it.
# (--count 0 and an unknown --class are checked by defect_workflow.sh.)
set -euo pipefail
IMBDEF=${1:?usage: defect_faults.sh path/to/imbdef}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/imbdef_cli_defect_faults.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export IMBDEF_NUM_THREADS=2

"$IMBDEF" synth-data --out "$WORK/data" --resolution 32 --good 8 --test-good 0 --defective 8 >/dev/null
DATA="$WORK/data/disc"
"$IMBDEF" train-background --data "$DATA" --preset tiny --kimg 0.004 --batch 4 --metrics-kimg 1 --swd-images 8 \
  --out "$WORK/stage1" >/dev/null
STAGE1="$WORK/stage1/checkpoint.safetensors"
COMMON=(--background "$STAGE1" --batch 4)
images_seen() { "$IMBDEF" info "$1" | awk '/images seen/ {print $3}'; }

# 1. Kills. Each run resumes from what the previous one left. Half the kills are aimed inside a
#    checkpoint write: as soon as this run's temporary appears (busy polling with builtins only:
#    the write lasts ~10 ms on tiny). The others come 0 to 50 ms after the run logs its second
#    step, within that step's snapshot or the next step. Waiting for the run's own signs instead
#    of fixed times keeps this so on a loaded machine.
KILLED="$WORK/killed"
logged() {  # the step records in the log (0 before there is a log)
  local n
  n=$(grep -cs '"loss_g"' "$KILLED/log.jsonl" || true)
  echo "${n:-0}"
}
mid_write=0
for how in write 0 write 0.005 write 0.02 0.05; do
  RESUME=()
  [[ -f "$KILLED/checkpoint.safetensors" ]] && RESUME=(--resume "$KILLED/checkpoint.safetensors")
  before=$(logged)
  "$IMBDEF" train-defect "${COMMON[@]}" --data "$DATA" --kimg 2 --snapshot-kimg 0.004 --out "$KILLED" "${RESUME[@]}" \
    >/dev/null 2>&1 &
  pid=$!
  if [[ $how == write ]]; then
    end=$((SECONDS + 120))
    until compgen -G "$KILLED/checkpoint.safetensors.tmp-$pid-*" >/dev/null || ((SECONDS > end)); do :; done
  else
    for _ in $(seq 24000); do (($(logged) >= before + 2)) && break; sleep 0.005; done
    sleep "$how"
  fi
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  compgen -G "$KILLED/checkpoint.safetensors.tmp-$pid-*" >/dev/null && mid_write=$((mid_write + 1))
  if [[ -f "$KILLED/checkpoint.safetensors" ]]; then
    "$IMBDEF" info "$KILLED/checkpoint.safetensors" | grep -q "imbdef.defect" ||
      fail "a kill ($how) left a stage-2 checkpoint that does not load"
  fi
done
((mid_write >= 1)) || fail "no kill landed inside a checkpoint write: the fault was not exercised"
echo "kills inside a checkpoint write: $mid_write of 3 aimed there"
[[ -f "$KILLED/checkpoint.safetensors" ]] || fail "no checkpoint was written in the killed runs"
seen=$(images_seen "$KILLED/checkpoint.safetensors")
# Two more steps (a run may be extended: total_kimg may differ on resume).
"$IMBDEF" train-defect "${COMMON[@]}" --data "$DATA" --kimg "$(awk "BEGIN {print ($seen + 8) / 1000}")" --snapshot-kimg 0.004 \
  --out "$KILLED" --resume "$KILLED/checkpoint.safetensors" >"$WORK/resume.out" || fail "could not resume after the kills"
grep -q "resumed from .* at step $((seen / 4))" "$WORK/resume.out" || fail "the resumed run did not continue at step $((seen / 4))"
[[ $(images_seen "$KILLED/checkpoint.safetensors") == $((seen + 8)) ]] || fail "the resumed run did not train on"
if find "$KILLED" -name 'checkpoint.safetensors.tmp-*' | grep -q .; then
  fail "a half-written checkpoint of the killed runs was left behind: $(find "$KILLED" -name '*.tmp-*')"
fi

# 2. A stage-1 checkpoint of another preset, with a stage-2 checkpoint made on tiny.
"$IMBDEF" train-background --data "$DATA" --preset cpu64 --kimg 0.004 --batch 4 --metrics-kimg 1 --swd-images 8 \
  --snapshot-kimg 1 --out "$WORK/cpu64" >/dev/null
if "$IMBDEF" train-defect --background "$WORK/cpu64/checkpoint.safetensors" --data "$DATA" --batch 4 --kimg 0.064 \
   --out "$WORK/mixed" --resume "$KILLED/checkpoint.safetensors" >/dev/null 2>"$WORK/mixed.err"; then
  fail "a tiny stage-2 checkpoint resumed on a cpu64 stage-1 checkpoint"
fi
grep -q 'config.preset = "cpu64", found "tiny"' "$WORK/mixed.err" || fail "the refusal does not name the presets: $(cat "$WORK/mixed.err")"
#    Defects at 48 px for a 32 px model are resized (images area, masks by coverage) and train.
"$IMBDEF" synth-data --out "$WORK/data48" --resolution 48 --good 0 --test-good 0 --defective 4 >/dev/null
"$IMBDEF" train-defect "${COMMON[@]}" --data "$WORK/data48/disc" --kimg 0.008 --out "$WORK/res48" >/dev/null ||
  fail "a defect set at 48 px did not train a 32 px model"
#    A mask whose size is not its image's is refused, naming the file.
mkdir -p "$WORK/badsize/images" "$WORK/badsize/masks"
cp "$DATA/test/crack/000.png" "$WORK/badsize/images/a.png"
cp "$DATA/ground_truth/crack/000_mask.png" "$WORK/badsize/masks/a.png"
cp "$WORK/data48/disc/test/hole/000.png" "$WORK/badsize/images/b.png"
cp "$DATA/ground_truth/hole/000_mask.png" "$WORK/badsize/masks/b.png"  # 32 px mask, 48 px image
if "$IMBDEF" train-defect "${COMMON[@]}" --data "$WORK/badsize" --kimg 0.008 --out "$WORK/badsize_run" >/dev/null \
   2>"$WORK/badsize.err"; then
  fail "a mask of the wrong size was accepted"
fi
grep -q "b.png" "$WORK/badsize.err" || fail "the wrong-size mask is not named: $(cat "$WORK/badsize.err")"

# 3. A class with one image (image + mask folders with classes.txt), both protocols.
ONE="$WORK/one"
mkdir -p "$ONE/images" "$ONE/masks"
: >"$ONE/classes.txt"
for d in crack hole scratch stain; do
  for n in 000 001; do
    [[ $d$n == crack001 ]] && continue
    cp "$DATA/test/$d/$n.png" "$ONE/images/$d$n.png"
    cp "$DATA/ground_truth/$d/${n}_mask.png" "$ONE/masks/$d$n.png"
    if [[ $d == crack ]]; then echo "$d$n.png rare" >>"$ONE/classes.txt"; else echo "$d$n.png common" >>"$ONE/classes.txt"; fi
  done
done
for protocol in all one-third; do
  "$IMBDEF" train-defect "${COMMON[@]}" --data "$ONE" --protocol "$protocol" --kimg 0.008 --out "$WORK/one_$protocol" \
    >"$WORK/one_$protocol.out" || fail "a class with one image did not train (--protocol $protocol)"
  grep -Eq "^rare +1 +1 +0" "$WORK/one_$protocol.out" || fail "the one-image class does not train its image (--protocol $protocol)"
done
grep -Eq "^common +6 +2 +4" "$WORK/one_one-third.out" || fail "one-third of 6 is not 2 training images"
"$IMBDEF" generate --checkpoint "$WORK/one_one-third/checkpoint.safetensors" --out "$WORK/one_gen" --count 2 --class rare \
  --no-reject >/dev/null || fail "the one-image class does not generate"

# 4. Unwritable output folders. A path through a regular file fails for root too.
touch "$WORK/not_a_folder"
if "$IMBDEF" train-defect "${COMMON[@]}" --data "$DATA" --kimg 0.008 --out "$WORK/not_a_folder/run" >/dev/null 2>"$WORK/nf.err"; then
  fail "training into a path through a file succeeded"
fi
grep -q "not_a_folder/run" "$WORK/nf.err" || fail "the error does not name the output folder: $(cat "$WORK/nf.err")"
# Read-only folders: as an unprivileged user (root ignores the mode bits; setpriv drops to nobody).
AS_USER=()
if [[ $(id -u) == 0 ]]; then
  if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
    AS_USER=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    chmod -R a+rX "$WORK"
  else
    AS_USER=(skip)
  fi
fi
if [[ ${AS_USER[0]:-} != skip ]]; then
  mkdir -p "$WORK/readonly" && chmod 555 "$WORK/readonly"
  if "${AS_USER[@]}" "$IMBDEF" train-defect "${COMMON[@]}" --data "$DATA" --kimg 0.008 --out "$WORK/readonly/run" \
     >/dev/null 2>"$WORK/ro.err"; then
    fail "training into a read-only folder succeeded"
  fi
  grep -q "readonly/run" "$WORK/ro.err" || fail "the error does not name the read-only folder: $(cat "$WORK/ro.err")"
  [[ -z $(ls -A "$WORK/readonly") ]] || fail "the refused run left files in the read-only folder"
  # An earlier run's folder made read-only: refused, and what it held is untouched.
  cp -r "$WORK/res48" "$WORK/old_run"
  before=$(cd "$WORK/old_run" && find . -type f -exec md5sum {} + | sort)
  chmod -R a-w "$WORK/old_run"
  if "${AS_USER[@]}" "$IMBDEF" train-defect "${COMMON[@]}" --data "$DATA" --kimg 0.008 --out "$WORK/old_run" \
     >/dev/null 2>"$WORK/old.err"; then
    fail "training into a read-only run folder succeeded"
  fi
  grep -q "old_run" "$WORK/old.err" || fail "the error does not name the read-only run folder: $(cat "$WORK/old.err")"
  [[ $(cd "$WORK/old_run" && find . -type f -exec md5sum {} + | sort) == "$before" ]] ||
    fail "the refused run changed the read-only run folder"
  if "${AS_USER[@]}" "$IMBDEF" generate --checkpoint "$WORK/res48/checkpoint.safetensors" --out "$WORK/readonly/gen" --count 2 \
     >/dev/null 2>"$WORK/gen_ro.err"; then fail "generating into a read-only folder succeeded"; fi
  grep -q "readonly/gen" "$WORK/gen_ro.err" || fail "generate does not name the read-only folder: $(cat "$WORK/gen_ro.err")"
  [[ -z $(ls -A "$WORK/readonly") ]] || fail "the refused generate left files in the read-only folder"
else
  echo "note: running as root without setpriv: read-only folders not exercised"
fi
echo "defect faults: ok"
