#!/bin/sh
# Builds and runs the Winograd primary-convolution test and benchmark (winograd_test.c).
#   Tools/dev/kernels/run_winograd.sh [test|bench|all] [seconds]
# CC (default clang, else cc) and CFLAGS (default -O2, as SwiftPM release builds) can be overridden.
set -e
cd "$(dirname "$0")/../../.."
CC=${CC:-$(command -v clang >/dev/null 2>&1 && echo clang || echo cc)}
CFLAGS=${CFLAGS:--O2}
OUT=${OUT:-/tmp/capskit-winogradtest}
$CC $CFLAGS -Wall -o "$OUT" Tools/dev/kernels/winograd_test.c Sources/CCapsKernels/winograd.c \
  Sources/CCapsKernels/gemm*.c Sources/CCapsKernels/capsule_ops.c \
  -ISources/CCapsKernels/include -ISources/CCapsKernels -lm -lpthread
exec "$OUT" "${1:-all}" "${2:-3}"
