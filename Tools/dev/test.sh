#!/usr/bin/env bash
# The test command (README): system libraries, then the whole test suite (debug build).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash Tools/user/install-system-packages.sh
swift build --build-tests
swift test --skip-build
