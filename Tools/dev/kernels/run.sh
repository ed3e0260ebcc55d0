#!/bin/sh
# Builds and runs the GEMM correctness tests and benchmarks.
#   Tools/dev/kernels/run.sh [test|bench|all] [seconds-per-benchmark] [isa|all] [shape-filter]
# CC (default clang, the compiler SwiftPM builds the kernels with, else cc) and CFLAGS
# (default -O2, as SwiftPM release builds) can be overridden.
set -e
cd "$(dirname "$0")/../../.."
CC=${CC:-$(command -v clang >/dev/null 2>&1 && echo clang || echo cc)}
CFLAGS=${CFLAGS:--O2}
OUT=${OUT:-/tmp/capskit-gemmtest}
$CC $CFLAGS -Wall -o "$OUT" Tools/dev/kernels/gemm_test.c Sources/CCapsKernels/gemm*.c \
  -ISources/CCapsKernels/include -ISources/CCapsKernels -lm -lpthread
exec "$OUT" "${1:-all}" "${2:-0.6}" "${3:-all}" ${4:+"$4"}
