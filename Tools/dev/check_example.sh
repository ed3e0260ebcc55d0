#!/usr/bin/env bash
# The README's library example (CI runs it once, after the test suite):
#
#     bash Tools/dev/check_example.sh
#
# Checks that the README's example block is Examples/Sources/classify-digit/main.swift, builds the
# Examples package (its own Package.swift, depending on this one by path; debug, in
# Examples/.build), and runs it from the repository root on fixture digits: with the built-in model
# and with a given one, each answer compared with PyTorch's prediction in
# Fixtures/digits/expected.csv. Prints 'N passed, N failed'; exit 1 on any failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
passed=0
failed=0
check() { # check NAME COMMAND...
  local name="$1"; shift
  local output
  if output="$("$@" 2>&1)"; then
    passed=$((passed + 1)); echo "ok    $name"
  else
    failed=$((failed + 1)); echo "FAIL  $name"; echo "$output" | sed 's/^/      /' | head -20
  fi
}

main=Examples/Sources/classify-digit/main.swift
readme_block() {
  awk -v marker="<!-- example: $main -->" '
    $0 == marker { found = 1; next }
    found && /^```swift$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }' README.md
}
check "the README's example block is $main" diff -u "$main" <(readme_block)

swift build --package-path Examples
example="$(swift build --package-path Examples --show-bin-path)/classify-digit"
expected() { # expected FILE MODEL: PyTorch's class for the digit
  awk -F, -v file="$1" -v column="$2_prediction" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == column) c = i; next }
    $1 == file { print $c }' Fixtures/digits/expected.csv
}
classifies() { # classifies FILE MODEL [MODEL PATH]
  local want; want="$(expected "$1" "$2")"
  [ -n "$want" ] || { echo "no expected class for $1"; return 1; }
  local line; line="$("$example" "Fixtures/digits/$1" "${@:3}")"
  echo "$line (expected $want)"
  [[ "$line" == "Fixtures/digits/$1: $want (capsule length "* ]]
}
check "classify-digit d8001_gray8.png with the built-in model: PyTorch's class" classifies d8001_gray8.png standard
check "classify-digit d8004_gray8.png with the built-in model: PyTorch's class" classifies d8004_gray8.png standard
check "classify-digit d8007_gray8.png --model small.h5: PyTorch's class" \
  classifies d8007_gray8.png small Fixtures/models/small.h5
refuses_bad_png() { ! "$example" Fixtures/bad/not_png.png; }
check "classify-digit on a file that is not a PNG exits non-zero" refuses_bad_png

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
