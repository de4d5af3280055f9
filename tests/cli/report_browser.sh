#!/usr/bin/env bash
# The training reports in a real browser: a tiny stage-1 run and a tiny stage-2 run, then both
# report.html files loaded in headless Chromium; the test fails on any image that does not load
# and on any script error. It first proves that it can fail: a copy of the report with a broken
# <img> and one with a failing script must both be caught. Exits 77 (ctest: skipped) when no
# Chromium is installed (scripts/setup.sh installs Debian's `chromium`).
#
# How: a probe script is put at the top of a copy of the report (so that window.onerror sees every
# later script), and writes a verdict into the DOM once the page and all its images have loaded or
# failed; `chromium --dump-dom` prints the DOM and the verdict is read from it.
set -euo pipefail
IMBDEF="$1"
BROWSER=""
for b in "${CHROMIUM:-}" chromium chromium-browser google-chrome; do
  if [ -n "$b" ] && command -v "$b" >/dev/null 2>&1; then BROWSER="$(command -v "$b")"; break; fi
done
if [ -z "$BROWSER" ]; then echo "SKIP: no chromium (or chromium-browser, google-chrome, \$CHROMIUM) found"; exit 77; fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$WORK/probe.js" <<'JS'
<script>
(function () {
  var problems = [];
  window.onerror = function (message, source, line) {
    problems.push('script error: ' + message + ' (' + source + ':' + line + ')');
  };
  window.addEventListener('unhandledrejection', function (e) { problems.push('unhandled rejection: ' + e.reason); });
  // Lazy images outside the viewport would never load in a headless window: load them all.
  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.images, function (img) { img.loading = 'eager'; });
  });
  window.addEventListener('load', function () {
    var images = Array.prototype.slice.call(document.images);
    Promise.all(images.map(function (img) {
      if (img.complete) return Promise.resolve();
      return new Promise(function (done) {
        img.addEventListener('load', done);
        img.addEventListener('error', done);
        setTimeout(done, 5000);
      });
    })).then(function () {
      images.forEach(function (img) {
        if (!(img.complete && img.naturalWidth > 0)) problems.push('broken image: ' + (img.getAttribute('src') || '').slice(0, 100));
      });
      var verdict = document.createElement('pre');
      // Spelt in two pieces so that the probe's own source never matches the verdict's grep.
      verdict.textContent = 'BROWSER-' + 'VERDICT: ' + (problems.length ? 'FAIL ' + problems.join(' | ')
                                                                    : 'OK ' + images.length + ' images');
      document.body.appendChild(verdict);
    });
  });
})();
</script>
JS

# verdict REPORT: the probe's verdict on REPORT, from a copy beside it (relative images resolve).
verdict() {
  local probe
  probe="$(dirname "$1")/.browser-probe-$(basename "$1")"
  awk -v js="$WORK/probe.js" '{ print } /<head>/ && !done { while ((getline line < js) > 0) print line; done = 1 }' "$1" >"$probe"
  grep -q "window.onerror" "$probe" || fail "$1 has no <head> to put the probe in"
  timeout 60 "$BROWSER" --headless --no-sandbox --disable-gpu --allow-file-access-from-files --virtual-time-budget=10000 \
    --dump-dom "file://$(realpath "$probe")" 2>/dev/null | grep -o 'BROWSER-VERDICT: [^<]*' || echo "BROWSER-VERDICT: none (the page did not finish loading)"
  rm -f "$probe"
}

# passes REPORT MIN_IMAGES: the verdict is OK with at least MIN_IMAGES images.
passes() {
  local v
  v="$(verdict "$1")"
  echo "$1: $v"
  [[ "$v" =~ ^BROWSER-VERDICT:\ OK\ ([0-9]+)\ images ]] || fail "$1 in $BROWSER: $v"
  [ "${BASH_REMATCH[1]}" -ge "$2" ] || fail "$1 shows ${BASH_REMATCH[1]} images, expected at least $2"
}

# A small synthetic dataset keeps both runs to seconds.
"$IMBDEF" synth-data --out "$WORK/data" --resolution 32 --good 16 --test-good 0 --defective 12 >/dev/null
"$IMBDEF" train-background --data "$WORK/data/disc" --preset tiny --kimg 0.008 --batch 4 --swd-images 8 --snapshot-kimg 0.004 \
  --out "$WORK/stage1" >/dev/null
"$IMBDEF" train-defect --background "$WORK/stage1/checkpoint.safetensors" --data "$WORK/data/disc" --classes hole,crack \
  --kimg 0.008 --snapshot-kimg 0.004 --metrics-kimg 0.004 --metrics-images 8 --batch 4 --out "$WORK/stage2" >/dev/null
R2="$WORK/stage2/report.html"
[ -f "$R2" ] || fail "train-defect wrote no report.html"
# What the stage-2 report must hold: the classes in --classes order with their counts, the
# stage-1 hash, labelled per-class grids beside the reals, and the curves by name.
grep -q "<td>hole 3, crack 3</td>" "$R2" || fail "the stage-2 summary does not list the --classes with their counts"
grep -q "stage-1 content hash" "$R2" || fail "the stage-2 summary has no stage-1 hash"
grep -q 'grid-row: span 2">hole</span><span style="grid-row: span 2">crack</span>' "$R2" || fail "the sample grid is not labelled per class"
grep -q 'src="reals.png"' "$R2" || fail "no real defects beside the generated ones"
for name in adv_img adv_match esl rcl total D_img r1_img "ADA p" "boundary transition" "defect-crop SWD" "clustered diversity" \
            "out-of-region rate" "mask alignment"; do
  grep -q "$name" "$R2" || fail "the stage-2 report has no curve '$name'"
done
grep -q "own numbers need at least" "$R2" || fail "the report does not say which classes are too small for metrics"

passes "$WORK/stage1/report.html" 2
passes "$R2" 4

# The check itself can fail: a broken image, and a script error, are each caught.
sed '0,/src="samples\//s//src="samples\/missing-/' "$R2" >"$WORK/stage2/broken-image.html"
grep -q 'src="samples/missing-' "$WORK/stage2/broken-image.html" || fail "could not break an image for the self-test"
v="$(verdict "$WORK/stage2/broken-image.html")"
[[ "$v" == *"FAIL"*"broken image: samples/missing-"* ]] || fail "a broken image went unnoticed: $v"
sed 's|</main>|<script>no_such_function();</script></main>|' "$R2" >"$WORK/stage2/script-error.html"
v="$(verdict "$WORK/stage2/script-error.html")"
[[ "$v" == *"FAIL"*"script error"*"no_such_function"* ]] || fail "a script error went unnoticed: $v"
echo "reports in $(basename "$BROWSER"): ok"
