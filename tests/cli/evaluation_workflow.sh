#!/usr/bin/env bash
# The comparison path of docs/results.md, on the built-in synthetic data: a stage-2 dataset and a
# copy-paste dataset on the same backgrounds, both measured by `imbdef evaluate` against the real
# defects, and the held-out reals as the floor. Checks the pairing (copy-paste's backgrounds are
# generate's, byte for byte), the copy-paste contract (pasted pixels inside the valid region, the
# rest the background's bytes), the metric files, and the refusals.
set -euo pipefail
IMBDEF="$1"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$IMBDEF" synth-data --out "$WORK/data" --resolution 32 --channels 3 --good 0 --test-good 0 --defective 24 --scenes disc >/dev/null
DATA="$WORK/data/disc"
"$IMBDEF" train-background --preset tiny --kimg 0.008 --batch 4 --out "$WORK/stage1" >/dev/null
"$IMBDEF" train-defect --background "$WORK/stage1/checkpoint.safetensors" --data "$DATA" --out "$WORK/stage2" --kimg 0.008 \
  --batch 4 --protocol one-third >/dev/null
"$IMBDEF" generate --checkpoint "$WORK/stage2/checkpoint.safetensors" --out "$WORK/gen" --count 12 --seed 5 --no-reject >/dev/null
"$IMBDEF" copy-paste --background "$WORK/stage1/checkpoint.safetensors" --data "$DATA" --protocol one-third --out "$WORK/cp" \
  --count 12 --seed 5 >"$WORK/cp.out"
grep -q "copy-paste samples in" "$WORK/cp.out" || fail "copy-paste did not report its samples"
[ -f "$WORK/cp/data.yaml" ] && [ -f "$WORK/cp/annotations/train.json" ] || fail "copy-paste did not write data.yaml and COCO"
grep -q '"method": "copy-paste"' "$WORK/cp/manifest.json" || fail "the copy-paste manifest does not name its method"

# Pairing: sample i of a seed has the same background in both datasets.
paired=0
for f in "$WORK"/cp/backgrounds/train/*.png; do
  g="$WORK/gen/backgrounds/train/$(basename "$f")"
  [ -f "$g" ] || continue
  cmp -s "$f" "$g" || fail "copy-paste background $(basename "$f") differs from generate's"
  paired=$((paired + 1))
done
[ "$paired" -ge 4 ] || fail "only $paired paired backgrounds"

# The copy-paste contract, pixel by pixel (python3 without extra packages: PNGs are compared through
# imbdef's own evaluate below; here the manifest's sources must be training images only).
python3 - "$WORK/cp/manifest.json" <<'PY' || fail "copy-paste pasted a held-out defect"
import json, sys, collections
m = json.load(open(sys.argv[1]))
by_class = collections.defaultdict(set)
for s in m["samples"]:
    by_class[s["class"]].add(s["metadata"]["source"])
# one-third of 6 defects per class (24 over 4 classes) is 2: never more distinct sources per class
assert all(len(v) <= 2 for v in by_class.values()), {k: len(v) for k, v in by_class.items()}
PY

for d in gen cp; do
  "$IMBDEF" evaluate --dataset "$WORK/$d" --data "$DATA" --protocol one-third >"$WORK/$d.eval" || fail "evaluate failed on $d"
  python3 - "$WORK/$d/metrics.json" "$d" <<'PY' || fail "metrics.json of $d is incomplete"
import json, sys
m = json.load(open(sys.argv[1]))
need = ["samples", "defects", "real_samples", "per_class"]
assert all(k in m for k in need), m.keys()
if m["defects"] >= 2:
    for k in ["boundary_transition", "crop_swd", "diversity", "out_of_region", "mask_alignment"]:
        assert k in m, (k, m.keys())
if sys.argv[2] == "cp":
    assert m["out_of_region"] == 0, m["out_of_region"]   # pasted only where the region is valid
    assert 0.99 < m["mask_alignment"] <= 1.0, m["mask_alignment"]  # every change is under the mask
PY
done
"$IMBDEF" evaluate --held-out-reals --data "$DATA" --protocol one-third --out "$WORK/floor.json" >/dev/null
grep -q '"held-out real defects"' "$WORK/floor.json" || fail "the floor row does not say what it measured"

# The reals as a detector reads them: the training third as split train, the rest as split test,
# framed like the sets above, every file named uniquely (MVTec stems repeat across classes).
"$IMBDEF" export-reals --data "$DATA" --background "$WORK/stage1/checkpoint.safetensors" --out "$WORK/reals" --min-area 1 \
  >"$WORK/reals.out" || fail "export-reals failed"
grep -q "8 training and 16 held-out real defects (32 x 32, 3 channels)" "$WORK/reals.out" || fail "export-reals: $(cat "$WORK/reals.out")"
[ "$(ls "$WORK/reals/images/train" | wc -l)" -eq 8 ] && [ "$(ls "$WORK/reals/images/test" | wc -l)" -eq 16 ] ||
  fail "export-reals wrote $(ls "$WORK/reals/images/train" | wc -l) train and $(ls "$WORK/reals/images/test" | wc -l) test images"
grep -q '^test: "images/test"' "$WORK/reals/data.yaml" || fail "the reals' data.yaml has no test split"
python3 - "$WORK/reals/manifest.json" "$WORK/cp/manifest.json" <<'PY' || fail "the reals' manifest or labels disagree with copy-paste's"
import json, sys, os
m = json.load(open(sys.argv[1])); cp = json.load(open(sys.argv[2]))
assert m["run"]["method"] == "real" and m["classes"] == cp["classes"], (m["run"], m["classes"], cp["classes"])
root = os.path.dirname(sys.argv[1])
train_sources = {s["metadata"]["source"] for s in m["samples"] if s["split"] == "train"}
# copy-paste pasted only training defects: every source it used is in the export's train split
assert {s["metadata"]["source"] for s in cp["samples"]} <= train_sources
for s in m["samples"]:
    lines = open(os.path.join(root, s["label"])).read().split()
    assert len(lines) % 5 == 0 and len(lines) >= 5, (s["name"], lines)  # min-area 1: every real defect has a box
    assert all(int(c) == s["class"] for c in lines[::5]), (s["name"], lines)
PY
if "$IMBDEF" export-reals --data "$DATA" --out "$WORK/reals2" --class nosuch 2>"$WORK/err"; then fail "an unknown class accepted"; fi
grep -q "nosuch" "$WORK/err" || fail "the refusal does not name the unknown class"
[ ! -e "$WORK/reals2/manifest.json" ] || fail "a refused export left a manifest"

# Refusals.
if "$IMBDEF" evaluate --data "$DATA" 2>"$WORK/err"; then fail "evaluate without a dataset accepted"; fi
grep -q "held-out-reals" "$WORK/err" || fail "the refusal does not name the two choices"
if "$IMBDEF" evaluate --held-out-reals --data "$DATA" 2>"$WORK/err"; then fail "held-out reals without a held-out part accepted"; fi
mkdir -p "$WORK/empty"
if "$IMBDEF" evaluate --dataset "$WORK/empty" --data "$DATA" 2>"$WORK/err"; then fail "a folder without a manifest accepted"; fi
grep -q "manifest.json" "$WORK/err" || fail "the refusal does not name manifest.json"
if "$IMBDEF" copy-paste --background "$WORK/stage2/checkpoint.safetensors" --data "$DATA" --out "$WORK/x" 2>"$WORK/err"; then
  fail "copy-paste accepted a stage-2 checkpoint as backgrounds"; fi
echo "evaluation workflow: ok"
