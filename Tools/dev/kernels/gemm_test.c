// Standalone correctness + benchmark harness for the CCapsKernels GEMM.
//   cc -O2 -o /tmp/gemmtest Tools/dev/kernels/gemm_test.c Sources/CCapsKernels/gemm*.c
//      -ISources/CCapsKernels/include -lm -lpthread
//   /tmp/gemmtest [test|bench|all] [seconds-per-bench] [isa|all] [shape-name-filter | MxNxK]
#include "caps_gemm.h"

#define FMA_PEAK_NO_MAIN
#include "fma_peak.c"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) {  // uniform in [-1, 1)
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)((rng_state >> 40) * (1.0 / 8388608.0) - 1.0);
}
static int irand(int n) { return (int)((frand() + 1.0f) * 0.5f * n) % n; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t floats) {
  void *p = NULL;
  if (posix_memalign(&p, 64, (floats ? floats : 1) * sizeof(float))) abort();
  return p;
}

static const char *ISAS[] = {"avx512", "avx2", "portable"};

// The kernel B is packed for (the GEMM itself has no global choice: packed B records it).
static int g_kernel = -1;
static int use_kernel(const char *name) {
  for (int k = 0; k < CAPS_SGEMM_KERNEL_COUNT; k++)
    if (!strcmp(caps_sgemm_kernel_name(k), name) && caps_sgemm_kernel_supported(k)) {
      g_kernel = k;
      return 1;
    }
  return 0;
}
static size_t packed_b_count(int K, int N) { return caps_sgemm_packed_b_count_for(g_kernel, K, N); }
static void pack_b(int K, int N, const float *B, int ldb, float *packed) {
  if (caps_sgemm_pack_b_for(g_kernel, K, N, B, ldb, packed) != 0) abort();
}

// ---------------------------------------------------------------------------------------------
// Correctness

static int failures = 0;

// Returns the max relative error (|got - ref| / (sum |a*b| + |bias| + tiny)).
static double check_one(int M, int N, int K, int lda_pad, int ldb_pad, int ldc_pad, int use_bias,
                        int relu, int nsplit) {
  const int lda = K + lda_pad, ldb = N + ldb_pad, ldc = N + ldc_pad;
  float *A = xmalloc((size_t)M * lda), *B = xmalloc((size_t)K * ldb), *bias = xmalloc(N);
  float *C = xmalloc((size_t)M * ldc);
  for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = frand();
  for (size_t i = 0; i < (size_t)K * ldb; i++) B[i] = frand();
  for (int i = 0; i < N; i++) bias[i] = frand();
  for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = 12345.0f;  // sentinel
  // Guard zones after the packed B and the scratch detect writes past the advertised sizes.
  const size_t pbn = packed_b_count(K, N), scn = caps_sgemm_scratch_count(M, K);
  float *pb = xmalloc(pbn + 16), *scratch = xmalloc(scn + 16);
  for (int g = 0; g < 16; g++) pb[pbn + g] = scratch[scn + g] = -777.0f;
  pack_b(K, N, B, ldb, pb);
  // split N into nsplit aligned ranges, called in a shuffled order
  const int al = caps_sgemm_n_align();
  int cuts[9];
  cuts[0] = 0;
  for (int s = 1; s < nsplit; s++) {
    int c = (int)((long)N * s / nsplit) / al * al;
    cuts[s] = c < cuts[s - 1] ? cuts[s - 1] : c;
  }
  cuts[nsplit] = N;
  for (int s = nsplit - 1; s >= 0; s--)
    if (caps_sgemm_packed(M, N, K, A, lda, pb, use_bias ? bias : NULL, relu, C, ldc, cuts[s],
                          cuts[s + 1], scratch) != 0)
      return INFINITY;
  double maxerr = 0;
  for (int g = 0; g < 16; g++)
    if (pb[pbn + g] != -777.0f || scratch[scn + g] != -777.0f) maxerr = INFINITY;
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < ldc; j++) {
      float got = C[(size_t)i * ldc + j];
      if (j >= N) {  // padding must be untouched
        if (got != 12345.0f) maxerr = INFINITY;
        continue;
      }
      double ref = use_bias ? bias[j] : 0.0, mag = use_bias ? fabs(bias[j]) : 0.0;
      for (int k = 0; k < K; k++) {
        double p = (double)A[(size_t)i * lda + k] * B[(size_t)k * ldb + j];
        ref += p;
        mag += fabs(p);
      }
      if (relu && ref < 0) ref = 0;
      double err = fabs(got - ref) / (mag + 1e-30);
      if (!(err <= maxerr)) maxerr = (err == err) ? err : INFINITY;
    }
  }
  free(A), free(B), free(bias), free(C), free(pb), free(scratch);
  return maxerr;
}

typedef struct {
  int M, N, K, n0, n1;
  const float *A, *pb;
  const float *bias;
  float *C;
} ctjob_t;

static void *ct_worker(void *arg) {
  ctjob_t *j = arg;
  size_t n = caps_sgemm_scratch_count(j->M, j->K);
  float *scratch = xmalloc(n);
  for (int r = 0; r < 3; r++)
    caps_sgemm_packed(j->M, j->N, j->K, j->A, j->K, j->pb, j->bias, 1, j->C, j->N, j->n0, j->n1,
                      scratch);
  free(scratch);
  return NULL;
}

// Concurrent calls on disjoint column ranges (own scratch each) must give exactly the
// single-call result.
static int check_threads(int M, int N, int K, int threads) {
  float *A = xmalloc((size_t)M * K), *B = xmalloc((size_t)K * N), *bias = xmalloc(N);
  float *C1 = xmalloc((size_t)M * N), *C2 = xmalloc((size_t)M * N);
  for (size_t i = 0; i < (size_t)M * K; i++) A[i] = frand();
  for (size_t i = 0; i < (size_t)K * N; i++) B[i] = frand();
  for (int i = 0; i < N; i++) bias[i] = frand();
  float *pb = xmalloc(packed_b_count(K, N));
  pack_b(K, N, B, N, pb);
  float *scratch = xmalloc(caps_sgemm_scratch_count(M, K));
  caps_sgemm_packed(M, N, K, A, K, pb, bias, 1, C1, N, 0, N, scratch);
  pthread_t tid[8];
  ctjob_t jobs[8];
  const int al = caps_sgemm_n_align();
  for (int t = 0; t < threads; t++) {
    int n0 = (int)((long)N * t / threads) / al * al;
    int n1 = t == threads - 1 ? N : (int)((long)N * (t + 1) / threads) / al * al;
    jobs[t] = (ctjob_t){M, N, K, n0, n1, A, pb, bias, C2};
    pthread_create(&tid[t], NULL, ct_worker, &jobs[t]);
  }
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  int same = memcmp(C1, C2, sizeof(float) * M * N) == 0;
  free(A), free(B), free(bias), free(C1), free(C2), free(pb), free(scratch);
  return same;
}

// Rows computed in separate calls (any row split, any M) must be bitwise equal to one call.
static int check_row_invariance(int M, int N, int K) {
  float *A = xmalloc((size_t)M * K), *B = xmalloc((size_t)K * N), *bias = xmalloc(N);
  float *C1 = xmalloc((size_t)M * N), *C2 = xmalloc((size_t)M * N);
  for (size_t i = 0; i < (size_t)M * K; i++) A[i] = frand();
  for (size_t i = 0; i < (size_t)K * N; i++) B[i] = frand();
  for (int i = 0; i < N; i++) bias[i] = frand();
  float *pb = xmalloc(packed_b_count(K, N));
  pack_b(K, N, B, N, pb);
  float *scratch = xmalloc(caps_sgemm_scratch_count(M, K));
  caps_sgemm_packed(M, N, K, A, K, pb, bias, 0, C1, N, 0, N, scratch);
  for (int r0 = 0; r0 < M;) {
    int rows = 1 + irand(7);
    if (rows > M - r0) rows = M - r0;
    caps_sgemm_packed(rows, N, K, A + (size_t)r0 * K, K, pb, bias, 0, C2 + (size_t)r0 * N, N, 0, N,
                      scratch);
    r0 += rows;
  }
  int same = memcmp(C1, C2, sizeof(float) * M * N) == 0;
  free(A), free(B), free(bias), free(C1), free(C2), free(pb), free(scratch);
  return same;
}

// A packed B is refused (return -1, C untouched) for another K or N, or with a damaged header;
// and it records the kernel that packed it.
static int check_refusals(void) {
  const int K = 40, N = 24, M = 5;
  float *A = xmalloc(M * K), *B = xmalloc(K * N), *C = xmalloc(M * N);
  for (int i = 0; i < M * K; i++) A[i] = frand();
  for (int i = 0; i < K * N; i++) B[i] = frand();
  for (int i = 0; i < M * N; i++) C[i] = 12345.0f;
  float *pb = xmalloc(packed_b_count(K, N)), *scratch = xmalloc(caps_sgemm_scratch_count(M, K));
  pack_b(K, N, B, N, pb);
  int ok = caps_sgemm_packed_kernel(pb) == g_kernel;
  ok &= caps_sgemm_packed(M, N, K - 1, A, K, pb, NULL, 0, C, N, 0, N, scratch) == -1;
  ok &= caps_sgemm_packed(M, N - 8, K, A, K, pb, NULL, 0, C, N, 0, N - 8, scratch) == -1;
  pb[0] = 1.0f;  // the magic
  ok &= caps_sgemm_packed(M, N, K, A, K, pb, NULL, 0, C, N, 0, N, scratch) == -1;
  ok &= caps_sgemm_packed_kernel(pb) == -1;
  for (int i = 0; i < M * N; i++) ok &= C[i] == 12345.0f;
  free(A), free(B), free(C), free(pb), free(scratch);
  return ok;
}

static void run_tests(void) {
  static const int sizes[] = {1, 3, 7, 17, 33, 100};
  const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
  for (int isa = 0; isa < 3; isa++) {
    if (!use_kernel(ISAS[isa])) {
      printf("[%-8s] not supported on this CPU, skipped\n", ISAS[isa]);
      continue;
    }
    if (!check_refusals()) {
      printf("  FAIL %s: a mismatched or damaged packed B was not refused\n", ISAS[isa]);
      failures++;
    }
    double worst = 0;
    int cases = 0, bad = 0;
    for (int mi = 0; mi < nsizes; mi++)
      for (int ni = 0; ni < nsizes; ni++)
        for (int ki = 0; ki < nsizes; ki++) {
          int M = sizes[mi], N = sizes[ni], K = sizes[ki];
          int variant = cases;
          double e = check_one(M, N, K, variant % 3, (variant / 3) % 2 * 5, variant % 2 * 3,
                               variant % 2, (variant / 2) % 2, 1 + variant % 3);
          cases++;
          if (e > worst) worst = e;
          if (!(e < 1e-5)) {
            bad++;
            if (bad < 10) printf("  FAIL %s M=%d N=%d K=%d err=%g\n", ISAS[isa], M, N, K, e);
          }
        }
    // larger / irregular shapes, including the hot ones (reduced M), K not a multiple of KC
    static const int big[][3] = {{36, 256, 20736}, {36, 128, 5184},  {400, 256, 81},
                                 {400, 64, 81},    {13, 784, 1024},  {64, 512, 160},
                                 {301, 97, 531},   {290, 257, 1000}, {1, 1024, 512},
                                 {25, 33, 2049},   {1, 1, 1},        {600, 40, 9}};
    for (size_t t = 0; t < sizeof big / sizeof big[0]; t++) {
      for (int v = 0; v < 4; v++) {
        double e = check_one(big[t][0], big[t][1], big[t][2], v, v * 3, v % 2 * 7, v & 1,
                             (v >> 1) & 1, 1 + v);
        cases++;
        if (e > worst) worst = e;
        if (!(e < 1e-5)) {
          bad++;
          if (bad < 10)
            printf("  FAIL %s M=%d N=%d K=%d v=%d err=%g\n", ISAS[isa], big[t][0], big[t][1],
                   big[t][2], v, e);
        }
      }
    }
    // random shapes
    for (int t = 0; t < 150; t++) {
      int M = 1 + irand(70), N = 1 + irand(300), K = 1 + irand(700);
      double e = check_one(M, N, K, irand(4), irand(4), irand(4), irand(2), irand(2), 1 + irand(4));
      cases++;
      if (e > worst) worst = e;
      if (!(e < 1e-5)) {
        bad++;
        if (bad < 10) printf("  FAIL %s M=%d N=%d K=%d err=%g\n", ISAS[isa], M, N, K, e);
      }
    }
    failures += bad;
    printf("[%-8s] %d cases, max relative error %.3g, %s\n", ISAS[isa], cases, worst,
           bad ? "FAIL" : "PASS");
    int tbad = !check_threads(37, 256, 700, 2) + !check_threads(100, 200, 300, 4) +
               !check_threads(13, 64, 2000, 2);
    failures += tbad;
    printf("[%-8s] concurrent calls on split N: %s\n", ISAS[isa], tbad ? "FAIL" : "PASS");
    int rbad = !check_row_invariance(50, 70, 600) + !check_row_invariance(301, 33, 1000);
    failures += rbad;
    printf("[%-8s] row results independent of M / row split: %s\n", ISAS[isa],
           rbad ? "FAIL" : "PASS");
  }
}

// ---------------------------------------------------------------------------------------------
// Benchmark

typedef struct {
  int M, N, K, n0, n1, reps;
  const float *A, *pb, *bias;
  float *C;
  float *scratch;
  pthread_barrier_t *bar;
  double t0, t1, cpu;
} job_t;

static double thread_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *worker(void *arg) {
  job_t *j = arg;
  pthread_barrier_wait(j->bar);
  j->t0 = now();
  double c0 = thread_cpu();
  for (int r = 0; r < j->reps; r++) {
    if (j->n0 < 0)  // row split: rows [-n0 - 1, -n1 - 1), all columns
      caps_sgemm_packed(j->n0 - j->n1, j->N, j->K, j->A + (size_t)(-j->n0 - 1) * j->K, j->K, j->pb,
                        j->bias, 1, j->C + (size_t)(-j->n0 - 1) * j->N, j->N, 0, j->N, j->scratch);
    else
      caps_sgemm_packed(j->M, j->N, j->K, j->A, j->K, j->pb, j->bias, 1, j->C, j->N, j->n0, j->n1,
                        j->scratch);
  }
  j->cpu = thread_cpu() - c0;
  j->t1 = now();
  return NULL;
}

// Runs `reps` calls on `threads` threads (N split); returns seconds.
// Runs `reps` calls on `threads` threads (N split). Returns wall seconds from the first worker's
// start to the last worker's end; *cpu gets the largest per-thread CPU time.
static int split_rows;  // GEMM_SPLIT=rows: threads split M instead of N

static double timed(int M, int N, int K, const float *A, const float *pb, const float *bias,
                    float *C, float **scratch, int threads, int reps, double *cpu) {
  job_t jobs[8];
  pthread_t tid[8];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, threads + 1);
  const int al = caps_sgemm_n_align();
  for (int t = 0; t < threads; t++) {
    int n0 = (int)((long)N * t / threads) / al * al;
    int n1 = t == threads - 1 ? N : (int)((long)N * (t + 1) / threads) / al * al;
    if (split_rows) {  // encoded as negative: rows [M*t/T, M*(t+1)/T)
      n0 = -(int)((long)M * t / threads) - 1;
      n1 = -(int)((long)M * (t + 1) / threads) - 1;
    }
    jobs[t] = (job_t){M, N, K, n0, n1, reps, A, pb, bias, C, scratch[t], &bar, 0, 0, 0};
    pthread_create(&tid[t], NULL, worker, &jobs[t]);
  }
  pthread_barrier_wait(&bar);
  double t0 = 1e300, t1 = 0, c = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    if (jobs[t].t0 < t0) t0 = jobs[t].t0;
    if (jobs[t].t1 > t1) t1 = jobs[t].t1;
    if (jobs[t].cpu > c) c = jobs[t].cpu;
  }
  pthread_barrier_destroy(&bar);
  if (cpu) *cpu = c;
  return t1 - t0;
}

// Best-of-3 GFLOP/s by wall clock (*gw) and by per-thread CPU time (*gc: what the threads
// achieve while actually on a core, i.e. robust to other load on the machine).
static void bench_shape(int M, int N, int K, int threads, double seconds, double *gw, double *gc) {
  float *A = xmalloc((size_t)M * K), *B = xmalloc((size_t)K * N), *bias = xmalloc(N);
  float *C = xmalloc((size_t)M * N);
  for (size_t i = 0; i < (size_t)M * K; i++) A[i] = frand();
  for (size_t i = 0; i < (size_t)K * N; i++) B[i] = frand();
  for (int i = 0; i < N; i++) bias[i] = frand();
  float *pb = xmalloc(packed_b_count(K, N));
  pack_b(K, N, B, N, pb);
  float *scratch[8];
  for (int t = 0; t < threads; t++) scratch[t] = xmalloc(caps_sgemm_scratch_count(M, K));
  const double flop = 2.0 * M * N * K;
  double cpu, dt = 0;
  int r = 1;
  for (;; r *= 4) {  // warm-up and calibration: at least 20 ms
    dt = timed(M, N, K, A, pb, bias, C, scratch, threads, r, &cpu);
    if (dt >= 0.02) break;
  }
  dt /= r;
  int reps = (int)(seconds / 3 / dt);
  if (reps < 1) reps = 1;
  *gw = *gc = 0;
  for (int trial = 0; trial < 3; trial++) {
    dt = timed(M, N, K, A, pb, bias, C, scratch, threads, reps, &cpu);
    double g = flop * reps / dt * 1e-9, h = flop * reps / cpu * 1e-9;
    if (g > *gw) *gw = g;
    if (h > *gc) *gc = h;
  }
  for (int t = 0; t < threads; t++) free(scratch[t]);
  free(A), free(B), free(bias), free(C), free(pb);
}

static void run_bench(double seconds, const char *only, const char *filter) {
  // GEMM_THREADS=1 skips the 2-thread column (tuning runs).
  const int max_threads = getenv("GEMM_THREADS") && atoi(getenv("GEMM_THREADS")) == 1 ? 1 : 2;
  static const struct {
    const char *name;
    int M, N, K;
  } shapes[] = {
      {"conv2 g=1", 36, 256, 20736},      {"conv2 g=2", 72, 256, 20736},
      {"conv2 g=4", 144, 256, 20736},     {"conv2 g=8", 288, 256, 20736},
      {"conv2s g=1", 36, 128, 5184},      {"conv2s g=8", 288, 128, 5184},
      {"conv1 g=1", 400, 256, 81},        {"conv1 g=8", 3200, 256, 81},
      {"conv1s g=8", 3200, 64, 81},       {"dec 1x160x512", 1, 512, 160},
      {"dec 64x160x512", 64, 512, 160},   {"dec 64x512x1024", 64, 1024, 512},
      {"dec 64x1024x784", 64, 784, 1024}, {"dec 8x1024x784", 8, 784, 1024},
      {"cache-resident", 96, 256, 256},  // operands stay in L2: the micro-kernel's own speed
  };
  printf(
      "GFLOP/s as wall-clock / per-thread CPU time (the latter ignores time lost to other\n"
      "load on the machine; for 2T it is the aggregate rate of both threads); %%pk: 1T CPU-time\n"
      "rate over the FMA peak of the same width (fma_peak.c, best of 3 just before the shape)\n");
  printf("%-16s %5s %4s %5s", "shape", "M", "N", "K");
  for (int isa = 0; isa < 3; isa++)
    if ((!only || !strcmp(only, ISAS[isa])) && use_kernel(ISAS[isa]))
      printf(" | %8s 1T (%%pk)    %8s 2T ", ISAS[isa], ISAS[isa]);
  printf("\n");
  int cm, cn, ck;  // a filter of the form MxNxK benchmarks just that shape
  const int custom = filter && sscanf(filter, "%dx%dx%d", &cm, &cn, &ck) == 3;
  for (size_t s = 0; s < (custom ? 1 : sizeof shapes / sizeof shapes[0]); s++) {
    if (!custom && filter && !strstr(shapes[s].name, filter)) continue;
    const int M = custom ? cm : shapes[s].M, N = custom ? cn : shapes[s].N,
              K = custom ? ck : shapes[s].K;
    printf("%-16s %5d %4d %5d", custom ? "custom" : shapes[s].name, M, N, K);
    fflush(stdout);
    for (int isa = 0; isa < 3; isa++) {
      if (only && strcmp(only, ISAS[isa])) continue;
      if (!use_kernel(ISAS[isa])) continue;
      printf(" |");
      const int wide = !strcmp(ISAS[isa], "avx512");
      double peak = 0;
      if (!strcmp(ISAS[isa], "portable") ? 0 : 1)
        for (int r = 0; r < 3; r++) {
          const double p = fma_peak_cpu_gflops(wide, 0.1);
          if (p > peak) peak = p;
        }
      for (int th = 1; th <= max_threads; th++) {
        double gw, gc;
        bench_shape(M, N, K, th, seconds, &gw, &gc);
        printf(" %5.0f/%-5.0f", gw, gc);
        if (th == 1) printf(peak > 0 ? " %3.0f%%pk" : "       ", 100 * gc / peak);
        fflush(stdout);
      }
    }
    printf("\n");
  }
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "all";
  double seconds = argc > 2 ? atof(argv[2]) : 0.6;
  const char *only = argc > 3 && strcmp(argv[3], "all") ? argv[3] : NULL;
  const char *filter = argc > 4 ? argv[4] : NULL;
  printf("default ISA: %s (n_align %d)\n", caps_sgemm_isa(), caps_sgemm_n_align());
  split_rows = getenv("GEMM_SPLIT") && !strcmp(getenv("GEMM_SPLIT"), "rows");
  if (split_rows) printf("benchmark threads split M (rows) instead of N\n");
  if (!strcmp(mode, "test") || !strcmp(mode, "all")) run_tests();
  if (!strcmp(mode, "bench") || !strcmp(mode, "all")) run_bench(seconds, only, filter);
  return failures ? 1 : 0;
}
