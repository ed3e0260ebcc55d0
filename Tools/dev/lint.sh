#!/usr/bin/env bash
# Formatting, checked in .ci/run (a few seconds):
#   - `swift format lint --strict` (.swift-format) over every Swift file of the repository:
#     Package.swift, Sources, Tests, the nested packages (Tools/dev/Benchmarks, Tools/dev/Fuzz,
#     Examples/ ...);
#   - `clang-format --dry-run --Werror` (.clang-format) over the C of Sources/ and Tools/dev/kernels.
#   bash Tools/dev/lint.sh          check; exit 1 on any difference
#   bash Tools/dev/lint.sh --fix    format those files in place
# clang-format is Debian bookworm's 14 (`bash Tools/user/install-system-packages.sh clang-format`);
# another major version may format some lines differently.
set -euo pipefail
cd "$(dirname "$0")/../.."
fix=0
case "${1:-}" in
  --fix) fix=1 ;;
  "") ;;
  *) echo "usage: bash Tools/dev/lint.sh [--fix]" >&2; exit 64 ;;
esac
# Build folders, scratch output and version-control data are not ours to format.
prune=(\( -name '.build*' -o -name .swiftpm -o -name .git -o -path ./Tools/work \) -prune -o)
mapfile -t swift_files < <(find . "${prune[@]}" -type f -name '*.swift' -print | sort)
mapfile -t c_files < <(find ./Sources ./Tools/dev/kernels "${prune[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print | sort)
clang_format=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$clang_format" ] || {
  echo "clang-format not found: bash Tools/user/install-system-packages.sh clang-format" >&2; exit 1; }
"$clang_format" --version | grep -q 'version 14\.' || echo "note: $("$clang_format" --version) (CI uses 14)" >&2
status=0
if [ "$fix" -eq 1 ]; then
  swift format --in-place --configuration .swift-format "${swift_files[@]}"
  "$clang_format" -i --style=file "${c_files[@]}"
else
  swift format lint --strict --configuration .swift-format "${swift_files[@]}" || status=1
  "$clang_format" --dry-run --Werror --style=file "${c_files[@]}" || status=1
fi
echo "lint: ${#swift_files[@]} Swift files, ${#c_files[@]} C files$([ "$status" -eq 0 ] || echo ': FAILED')"
exit $status
