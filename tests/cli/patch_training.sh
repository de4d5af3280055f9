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

# Composed into the full-size defect-free images: every pixel beyond the band (2 px) around the
# mask is the input's byte for byte (a stdlib PNG reader: no packages needed).
"$IMBDEF" generate --checkpoint "$WORK/p2/checkpoint.safetensors" --backgrounds "$DATA/train/good" --count 5 --seed 2 \
  --defects-per-image 2 --no-reject --min-area 1 --out "$WORK/composed" >"$WORK/composed.out" || fail "generate --backgrounds failed"
grep -q "^5 full-size images with composed defects" "$WORK/composed.out" || fail "composition: $(cat "$WORK/composed.out")"
python3 - "$WORK/composed" <<'PY' || fail "a composed image differs from its background beyond the band, or has the wrong size"
import json, os, struct, sys, zlib
def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w, h, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8, path
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * channels, [], bytearray(w * channels)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = prev[x], (prev[x - channels] if x >= channels else 0)
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line)); prev = line
    return w, h, channels, rows
root = sys.argv[1]
m = json.load(open(os.path.join(root, "manifest.json")))
assert m["run"]["mode"] == "composed into full-size backgrounds" and len(m["samples"]) == 5
for s in m["samples"]:
    w, h, c, img = read_png(os.path.join(root, s["image"]))
    _, _, _, bg = read_png(os.path.join(root, s["background"]))
    _, _, _, mask = read_png(os.path.join(root, s["mask"]))
    assert (w, h) == (96, 96), (s["image"], w, h)
    set_pixels = [(y, x) for y in range(h) for x in range(w) if mask[y][x]]
    assert set_pixels, s["image"]
    for y in range(h):
        for x in range(w):
            if img[y][x * c:(x + 1) * c] != bg[y][x * c:(x + 1) * c]:
                assert any(max(abs(y - yy), abs(x - xx)) <= 2 for yy, xx in set_pixels), (s["image"], y, x)
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
# With rejection on, a defect whose footprint border steps sharper than --seam-threshold is refused
# and counted; every kept defect's recorded seam is within it.
"$IMBDEF" generate --checkpoint "$WORK/p2/checkpoint.safetensors" --backgrounds "$DATA/train/good" --count 3 --seed 4 \
  --seam-threshold 0.02 --min-area 1 --out "$WORK/seamed" >/dev/null 2>&1 || fail "generate with a seam threshold failed"
python3 - "$WORK/seamed/manifest.json" <<'PY' || fail "a kept defect's seam is above the threshold, or seams are not counted"
import json, sys
m = json.load(open(sys.argv[1]))
assert "seam" in m["rejected"] and m["run"]["seam_threshold"] == 0.02, (m["rejected"], m["run"])
for s in m["samples"]:
    for d in s["metadata"]["defects"]:
        assert d["seam"] <= 0.02, d
PY

# A whole-image defect model cannot be composed; a stage-1 checkpoint has no defects; an empty folder has no images.
"$IMBDEF" synth-data --out "$WORK/data32" --resolution 32 --channels 3 --good 0 --test-good 0 --defective 8 --scenes disc >/dev/null
"$IMBDEF" train-defect --background "$WORK/w1/checkpoint.safetensors" --data "$WORK/data32/disc" --kimg 0.008 --batch 4 \
  --out "$WORK/w2" >/dev/null || fail "the whole-image defect stage for the refusal test failed"
if "$IMBDEF" generate --checkpoint "$WORK/w2/checkpoint.safetensors" --backgrounds "$DATA/train/good" --count 2 --out "$WORK/x5" \
  2>"$WORK/err"; then fail "a whole-image defect model composed into full-size images"; fi
grep -q "whole-image model" "$WORK/err" || fail "the refusal does not say whole-image: $(cat "$WORK/err")"
if "$IMBDEF" generate --checkpoint "$WORK/p1/checkpoint.safetensors" --backgrounds "$DATA/train/good" --count 2 --out "$WORK/x6" \
  2>"$WORK/err"; then fail "a stage-1 checkpoint composed"; fi
grep -q "stage-2 (defect) patch checkpoint" "$WORK/err" || fail "the refusal does not name the stage: $(cat "$WORK/err")"
mkdir -p "$WORK/no_images"
if "$IMBDEF" generate --checkpoint "$WORK/p2/checkpoint.safetensors" --backgrounds "$WORK/no_images" --count 2 --out "$WORK/x7" \
  2>"$WORK/err"; then fail "an empty background folder accepted"; fi
grep -q "no_images" "$WORK/err" || fail "the refusal does not name the folder: $(cat "$WORK/err")"
for x in x5 x6 x7; do [ ! -e "$WORK/$x/manifest.json" ] || fail "a refused composition wrote $x"; done
# A scale that leaves the images smaller than a patch names an image.
if "$IMBDEF" train-background --preset tiny --kimg 0.008 --batch 4 --data "$DATA" --patch --scale 0.25 --out "$WORK/x4" 2>"$WORK/err"; then
  fail "images smaller than a patch accepted"; fi
grep -q "\.png" "$WORK/err" && grep -q "patch side 32" "$WORK/err" || fail "the refusal does not name the image: $(cat "$WORK/err")"
echo "patch training: ok"
