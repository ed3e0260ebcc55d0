#!/usr/bin/env bash
# Set-up for users: system libraries, then a release build of capsconv and capsinfer in .build/release.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash Tools/user/install-system-packages.sh
swift build -c release --product capsconv
swift build -c release --product capsinfer
