#!/usr/bin/env bash
# The test command (README): system libraries, then the whole test suite (debug build).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash Tools/user/install-system-packages.sh
swift build --build-tests
swift test --skip-build
# capsconv export against PyTorch, h5py and ONNX Runtime (skipped with a message without them).
if command -v python3 > /dev/null; then
  python3 Tools/dev/test_export.py --capsconv .build/debug/capsconv
else
  echo "Tools/dev/test_export.py: skipped (no python3)"
fi
