#!/bin/sh
# Builds and runs the int8 GEMM correctness tests and benchmark (Tools/dev/kernels/gemm_int8_test.c).
#   Tools/dev/kernels/run_int8.sh [test|bench|all] [seconds-per-benchmark]
set -e
cd "$(dirname "$0")/../../.."
CC=${CC:-$(command -v clang >/dev/null 2>&1 && echo clang || echo cc)}
CFLAGS=${CFLAGS:--O2}
OUT=${OUT:-/tmp/capskit-gemm-int8-test}
$CC $CFLAGS -Wall -o "$OUT" Tools/dev/kernels/gemm_int8_test.c Sources/CCapsKernels/gemm*.c \
  -ISources/CCapsKernels/include -ISources/CCapsKernels -lm -lpthread
exec "$OUT" "${1:-all}" "${2:-1}"
