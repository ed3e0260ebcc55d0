#!/usr/bin/env bash
# The test command (README): system libraries, the whole test suite (debug build), then the
# `capsconv --json` outputs validated against docs/schemas.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash Tools/user/install-system-packages.sh
swift build --build-tests
swift test --skip-build
# The --json outputs against docs/schemas (jsonschema from PyPI, pinned in Tools/dev/requirements.txt).
python3 -c "import jsonschema" 2>/dev/null || python3 -m pip install -q "jsonschema==4.26.0"
python3 Tools/dev/check_json_schemas.py --bin "$(swift build --show-bin-path)"
# capsconv export against PyTorch, h5py and ONNX Runtime (skipped with a message without them).
if command -v python3 > /dev/null; then
  python3 Tools/dev/test_export.py --capsconv .build/debug/capsconv
else
  echo "Tools/dev/test_export.py: skipped (no python3)"
fi
# The Slurm and Kubernetes recipes of docs/SCALE.md, run locally (seconds).
bash Tools/dev/scale/test_recipes.sh
