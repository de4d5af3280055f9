#!/usr/bin/env bash
# Stage 2 against the copy-paste baseline on one real defect dataset, as docs/results.md reports
# it. Every step is an `imbdef` command, so the numbers reproduce from a clean clone:
#
#   bench/results/stage2_vs_copy_paste.sh DATA OUT [STAGE1_CKPT]
#
#   1. stage 1 on the dataset's defect-free images (skipped when STAGE1_CKPT is given),
#   2. stage 2 on the first third of each defect class (the literature's protocol; the rest held out),
#   3. a dataset of generated defects (every class in turn, rejection on) and a copy-paste dataset
#      of the training defects on the same generated backgrounds (same seed, sample for sample),
#   4. `imbdef evaluate` of both against the training defects and against the held-out ones, and the
#      held-out reals against the training ones (the floor these sample sizes allow).
#
# Knobs (environment): PRESET (cpu64), STAGE1_KIMG (6), STAGE2_KIMG (4), STAGE2_MINUTES (0: no
# bound), COUNT (256), SEED (1), CHANNELS (as the data), VALID_REGION (full-frame), IMBDEF
# (build/release/tools/imbdef).
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:?usage: stage2_vs_copy_paste.sh DATA OUT [STAGE1_CKPT]}"
out="${2:?usage: stage2_vs_copy_paste.sh DATA OUT [STAGE1_CKPT]}"
stage1="${3:-}"
imbdef="${IMBDEF:-build/release/tools/imbdef}"
preset="${PRESET:-cpu64}"
count="${COUNT:-256}"
seed="${SEED:-1}"
mkdir -p "$out"
lscpu | grep -E "Model name" | sed 's/^/# /' > "$out/machine.txt"
"$imbdef" version >> "$out/machine.txt"

if [ -z "$stage1" ]; then
  "$imbdef" train-background --data "$data" --preset "$preset" --kimg "${STAGE1_KIMG:-6}" --snapshot-kimg 1 --metrics-kimg 2 \
    --valid-region "${VALID_REGION:-full-frame}" --out "$out/stage1"
  stage1="$out/stage1/checkpoint.safetensors"
fi
"$imbdef" train-defect --background "$stage1" --data "$data" --protocol one-third --kimg "${STAGE2_KIMG:-4}" \
  --max-minutes "${STAGE2_MINUTES:-0}" --snapshot-kimg 0.5 --metrics-kimg 0.5 --skip-bad-files --out "$out/stage2"
"$imbdef" generate --checkpoint "$out/stage2/checkpoint.safetensors" --count "$count" --seed "$seed" --out "$out/imbdef" --overwrite
"$imbdef" copy-paste --background "$stage1" --data "$data" --protocol one-third --count "$count" --seed "$seed" \
  --out "$out/copy-paste" --overwrite --skip-bad-files
for method in imbdef copy-paste; do
  "$imbdef" evaluate --dataset "$out/$method" --data "$data" --protocol one-third --against train --skip-bad-files \
    --out "$out/$method.train.json"
  "$imbdef" evaluate --dataset "$out/$method" --data "$data" --protocol one-third --against held-out --skip-bad-files \
    --out "$out/$method.held-out.json"
done
"$imbdef" evaluate --held-out-reals --data "$data" --protocol one-third --skip-bad-files --out "$out/real-floor.json"
echo "results in $out: imbdef.*.json, copy-paste.*.json, real-floor.json; datasets imbdef/ and copy-paste/; report stage2/report.html"
