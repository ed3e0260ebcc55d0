// Standalone correctness + benchmark harness for the CCapsKernels int8 GEMM.
//   Tools/dev/kernels/run_int8.sh [test|bench|all] [seconds]
// test: every int8 kernel this CPU supports against an exact integer reference (int64 sums, the
//   float epilogue in double), many shapes, N splits, row/column scales, bias/ReLU, the
//   saturation edge (A = 255, B = +-63), guard zones past packed B and scratch, refusal of a
//   foreign packed B. bench: GOP/s (2 ops per multiply-add) of conv2's shape on one thread, CPU
//   time, beside the fp32 GEMM on the same shape.
#include "caps_gemm.h"
#include "caps_gemm_int8.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint32_t next(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (uint32_t)(rs >> 32);
}
static void *xalloc(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 1)) abort();
  return p;
}
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int failures = 0;
enum { GUARD = 256 };

static void check(int kernel, int M, int N, int K, int edge, int splits) {
  const int lda = K + 3, ldb = N + 5, ldc = N + 2;
  uint8_t *A = xalloc((size_t)M * lda);
  int8_t *B = xalloc((size_t)K * ldb);
  for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = edge ? 255 : (uint8_t)(next() & 255);
  for (size_t i = 0; i < (size_t)K * ldb; i++)
    B[i] = edge ? ((i & 1) ? 63 : -63) : (int8_t)((int)(next() % 127) - 63);
  float *rsc = xalloc(sizeof(float) * M), *csc = xalloc(sizeof(float) * N),
        *bias = xalloc(sizeof(float) * N);
  for (int i = 0; i < M; i++) rsc[i] = 1e-3f * (1 + next() % 1000);
  for (int j = 0; j < N; j++) {
    csc[j] = 1e-3f * (1 + next() % 1000);
    bias[j] = (float)((int)(next() % 2001) - 1000);
  }
  const size_t pbytes = caps_i8gemm_packed_b_bytes_for(kernel, K, N);
  uint8_t *packed = xalloc(pbytes + GUARD);
  memset(packed + pbytes, 0xA5, GUARD);
  if (caps_i8gemm_pack_b_for(kernel, K, N, B, ldb, packed) != 0) {
    printf("FAIL pack %d\n", kernel);
    failures++;
  }
  const size_t sbytes = caps_i8gemm_scratch_bytes(M, K);
  uint8_t *scratch = xalloc(sbytes + GUARD);
  memset(scratch + sbytes, 0x5A, GUARD);
  float *C = xalloc(sizeof(float) * (size_t)M * ldc);
  for (int variant = 0; variant < 4; variant++) {
    const int use_bias = variant & 1, relu = variant >> 1, use_rows = variant != 2;
    for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = -7.0f;
    const int align = caps_sgemm_n_align();
    const int share = ((N + splits - 1) / splits + align - 1) / align * align;
    for (int s = 0; s < splits; s++) {
      const int n0 = s * share < N ? s * share : N, n1 = n0 + share < N ? n0 + share : N;
      if (caps_i8gemm_packed(M, N, K, A, lda, packed, use_rows ? rsc : 0, csc, use_bias ? bias : 0,
                             relu, C, ldc, n0, n1, scratch) != 0) {
        printf("FAIL run kernel %d\n", kernel);
        failures++;
      }
    }
    double worst = 0;
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        int64_t sum = 0, mag = 0;
        for (int k = 0; k < K; k++) {
          const int64_t p = (int64_t)A[(size_t)i * lda + k] * B[(size_t)k * ldb + j];
          sum += p;
          mag += p < 0 ? -p : p;
        }
        double ref = (double)sum * (use_rows ? rsc[i] : 1.0) * csc[j] + (use_bias ? bias[j] : 0);
        if (relu && ref < 0) ref = 0;
        // Relative to the magnitudes summed (K-block partials are added in float).
        const double scale =
            (double)mag * (use_rows ? rsc[i] : 1.0) * csc[j] + fabs(bias[j]) + 1e-30;
        const double e = fabs(C[(size_t)i * ldc + j] - ref) / scale;
        if (e > worst) worst = e;
      }
    for (int i = 0; i < M; i++)
      for (int j = N; j < ldc; j++)
        if (C[(size_t)i * ldc + j] != -7.0f) worst = 1;
    if (worst > 1e-5) {
      printf("FAIL %s M=%d N=%d K=%d edge=%d splits=%d variant=%d err=%g\n",
             caps_i8gemm_kernel_name(kernel), M, N, K, edge, splits, variant, worst);
      failures++;
    }
  }
  for (int g = 0; g < GUARD; g++)
    if (packed[pbytes + g] != 0xA5 || scratch[sbytes + g] != 0x5A) {
      printf("FAIL guard zone %s M=%d N=%d K=%d\n", caps_i8gemm_kernel_name(kernel), M, N, K);
      failures++;
      break;
    }
  // A packed B for another shape is refused, C untouched.
  C[0] = 42;
  if (K > 1 &&
      (caps_i8gemm_packed(M, N, K - 1, A, lda, packed, 0, csc, 0, 0, C, ldc, 0, N, scratch) != -1 ||
       C[0] != 42)) {
    printf("FAIL refusal %s\n", caps_i8gemm_kernel_name(kernel));
    failures++;
  }
  free(A), free(B), free(rsc), free(csc), free(bias), free(packed), free(scratch), free(C);
}

static void test(void) {
  static const int sizes[] = {1, 3, 7, 17, 33, 100};
  int runs = 0;
  for (int kernel = 0; kernel < CAPS_I8GEMM_KERNEL_COUNT; kernel++) {
    if (!caps_i8gemm_kernel_supported(kernel)) {
      printf("skip %s (not supported by this CPU)\n", caps_i8gemm_kernel_name(kernel));
      continue;
    }
    for (int a = 0; a < 6; a++)
      for (int b = 0; b < 6; b++)
        for (int c = 0; c < 6; c++, runs++)
          check(kernel, sizes[a], sizes[b], sizes[c], 0, 1 + runs % 3);
    check(kernel, 36, 256, 2304 + 13, 0, 2);  // more than two K-blocks, odd K
    check(kernel, 400, 256, 81, 0, 1);        // conv1's shape for one image
    check(kernel, 9, 48, 3000, 1, 2);         // saturation edge: every pair 2 * 255 * 63
    int8_t bad = 64;
    uint8_t buf[1024];
    if (caps_i8gemm_pack_b_for(kernel, 1, 1, &bad, 1, buf) != -2) {
      printf("FAIL: weight 64 accepted\n");
      failures++;
    }
    printf("%s: tested\n", caps_i8gemm_kernel_name(kernel));
  }
  printf("%s: %d failures\n", failures ? "FAILED" : "ok", failures);
}

static void bench(double seconds, int M, int N, int K) {
  uint8_t *A = xalloc((size_t)M * K);
  int8_t *B = xalloc((size_t)K * N);
  float *Af = xalloc(sizeof(float) * (size_t)M * K), *Bf = xalloc(sizeof(float) * (size_t)K * N);
  for (size_t i = 0; i < (size_t)M * K; i++) Af[i] = A[i] = next() & 255;
  for (size_t i = 0; i < (size_t)K * N; i++) Bf[i] = B[i] = (int8_t)((int)(next() % 127) - 63);
  float *cs = xalloc(sizeof(float) * N), *C = xalloc(sizeof(float) * (size_t)M * N);
  for (int j = 0; j < N; j++) cs[j] = 1;
  for (int kernel = CAPS_I8GEMM_KERNEL_COUNT - 1; kernel >= 0; kernel--) {
    if (!caps_i8gemm_kernel_supported(kernel)) continue;
    void *packed = xalloc(caps_i8gemm_packed_b_bytes_for(kernel, K, N));
    caps_i8gemm_pack_b_for(kernel, K, N, B, N, packed);
    void *scratch = xalloc(caps_i8gemm_scratch_bytes(M, K));
    double t0 = cpu_now(), t;
    long n = 0;
    do {
      caps_i8gemm_packed(M, N, K, A, K, packed, 0, cs, 0, 0, C, N, 0, N, scratch);
      n++;
    } while ((t = cpu_now() - t0) < seconds);
    printf("int8 %-8s %dx%dx%d: %.1f GOP/s (CPU time, 1 thread)\n", caps_i8gemm_kernel_name(kernel),
           M, N, K, 2.0 * M * N * K * n / t / 1e9);
    free(packed), free(scratch);
  }
  const int fk = caps_sgemm_best_kernel();
  float *fp = xalloc(sizeof(float) * caps_sgemm_packed_b_count_for(fk, K, N));
  caps_sgemm_pack_b_for(fk, K, N, Bf, N, fp);
  float *fs = xalloc(sizeof(float) * caps_sgemm_scratch_count(M, K));
  double t0 = cpu_now(), t;
  long n = 0;
  do {
    caps_sgemm_packed(M, N, K, Af, K, fp, 0, 0, C, N, 0, N, fs);
    n++;
  } while ((t = cpu_now() - t0) < seconds);
  printf("fp32 %-8s %dx%dx%d: %.1f GFLOP/s (CPU time, 1 thread)\n", caps_sgemm_kernel_name(fk), M,
         N, K, 2.0 * M * N * K * n / t / 1e9);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "all";
  const double seconds = argc > 2 ? atof(argv[2]) : 1.0;
  if (strcmp(mode, "bench")) test();
  if (strcmp(mode, "test")) {
    bench(seconds, 144, 256, 20736);  // conv2, a 4-image group
    bench(seconds, 36, 128, 20736);   // conv2, batch 1, one thread's half of the columns
    bench(seconds, 1600, 256, 81);    // conv1, a 4-image group
  }
  return failures != 0;
}
