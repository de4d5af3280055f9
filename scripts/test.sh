#!/usr/bin/env bash
# Sets up, builds and runs imbdef's test suite.
#   scripts/test.sh            release build (build/release), all default tests
#   scripts/test.sh --debug    AddressSanitizer + UBSan build (build/debug)
#   scripts/test.sh -L core    any further arguments go to ctest (here: only the `core` label)
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

preset=release
if [ "${1:-}" = "--debug" ]; then
  preset=debug
  shift
fi

scripts/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
ctest --preset "$preset" "$@"
