#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer and ThreadSanitizer, each in its own build folder.
#   bash Tools/sanitize.sh [address|thread ...]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(address thread)
bash Tools/install-system-packages.sh
for sanitizer in "${sanitizers[@]}"; do
  echo "== swift test --sanitize=$sanitizer"
  swift build --build-tests --sanitize="$sanitizer" --scratch-path ".build-$sanitizer"
  swift test --skip-build --sanitize="$sanitizer" --scratch-path ".build-$sanitizer"
done
