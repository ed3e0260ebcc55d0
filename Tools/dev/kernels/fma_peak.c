// FMA peak of this CPU: fp32 GFLOP/s of a loop that does nothing but independent FMAs.
//   cc -O2 -o /tmp/fma_peak Tools/dev/kernels/fma_peak.c -lpthread
//   /tmp/fma_peak [seconds] [threads] [avx2|avx512|all]
// Also included by gemm_test.c (with FMA_PEAK_NO_MAIN) to print the GEMM as a share of the peak.
// Each thread runs CHAINS independent accumulator chains (more than FMA latency x FMA ports,
// so the loop is throughput-bound: Zen 3 needs 2 x 4 = 8 in flight, Zen 4/5 and Intel up to
// 2 x 4 = 8 per width) and counts 2 FLOP per lane per FMA. The AVX2 and AVX-512 variants use
// per-function target attributes and are picked at run time by CPUID, like the GEMM kernels.
// Reported per thread: GFLOP/s over wall time and over the thread's CPU time (the second is what
// a core delivers while the thread has it; on a shared machine it is the one to quote), best of
// the repetitions. The GEMM's target is a share of the CPU-time figure of one thread.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if !(defined(__x86_64__) || defined(__i386__))
#ifndef FMA_PEAK_NO_MAIN
int main(void) {
  fprintf(stderr, "fma_peak: x86 only (AVX2 / AVX-512)\n");
  return 1;
}
#endif
__attribute__((unused)) static double fma_peak_cpu_gflops(int avx512, double seconds) {
  (void)avx512, (void)seconds;
  return 0;
}
#else
#include <immintrin.h>

enum { CHAINS = 12, INNER = 1000 };

static double fma_now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Returns the FMAs per lane done; the sum keeps the compiler from dropping the chains.
__attribute__((target("avx2,fma"))) static long run_avx2(long outer, float *sink) {
  __m256 c[CHAINS];
  for (int i = 0; i < CHAINS; i++) c[i] = _mm256_set1_ps((float)i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long o = 0; o < outer; o++) {
    for (int r = 0; r < INNER; r++) {
#pragma GCC unroll 12
      for (int i = 0; i < CHAINS; i++) c[i] = _mm256_fmadd_ps(c[i], a, b);
    }
  }
  __m256 s = c[0];
  for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, c[i]);
  float t[8];
  _mm256_storeu_ps(t, s);
  *sink = t[0];
  return outer * INNER * CHAINS * 8L;
}

__attribute__((target("avx512f"))) static long run_avx512(long outer, float *sink) {
  __m512 c[2 * CHAINS];
  for (int i = 0; i < 2 * CHAINS; i++) c[i] = _mm512_set1_ps((float)i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long o = 0; o < outer; o++) {
    for (int r = 0; r < INNER; r++) {
#pragma GCC unroll 24
      for (int i = 0; i < 2 * CHAINS; i++) c[i] = _mm512_fmadd_ps(c[i], a, b);
    }
  }
  __m512 s = c[0];
  for (int i = 1; i < 2 * CHAINS; i++) s = _mm512_add_ps(s, c[i]);
  *sink = _mm512_reduce_add_ps(s);
  return outer * INNER * 2 * CHAINS * 16L;
}

typedef struct {
  int avx512;
  double seconds;
  double wall, cpu;  // out
  long fmas;         // out, per lane x lanes
  float sink;
} fma_job;

static void *fma_worker(void *arg) {
  fma_job *j = arg;
  long outer = 100;
  // Calibrate to about `seconds`.
  for (;;) {
    const double w0 = fma_now(CLOCK_MONOTONIC), c0 = fma_now(CLOCK_THREAD_CPUTIME_ID);
    const long f = j->avx512 ? run_avx512(outer, &j->sink) : run_avx2(outer, &j->sink);
    const double w = fma_now(CLOCK_MONOTONIC) - w0, c = fma_now(CLOCK_THREAD_CPUTIME_ID) - c0;
    if (w >= j->seconds || outer > (1L << 40)) {
      j->wall = w, j->cpu = c, j->fmas = f;
      return NULL;
    }
    outer = w < j->seconds / 20 ? outer * 10 : (long)(outer * j->seconds / w) + 1;
  }
}

// One thread's FMA rate over its CPU time (GFLOP/s), one run of about `seconds`.
__attribute__((unused)) static double fma_peak_cpu_gflops(int avx512, double seconds) {
  fma_job j;
  memset(&j, 0, sizeof j);
  j.avx512 = avx512, j.seconds = seconds;
  fma_worker(&j);
  return 2.0 * j.fmas / j.cpu * 1e-9;
}

#ifndef FMA_PEAK_NO_MAIN
static void measure(const char *name, int avx512, int threads, double seconds, int reps) {
  double best_wall = 0, best_cpu = 0;
  for (int r = 0; r < reps; r++) {
    pthread_t tid[64];
    fma_job jobs[64];
    for (int t = 0; t < threads; t++) {
      memset(&jobs[t], 0, sizeof jobs[t]);
      jobs[t].avx512 = avx512, jobs[t].seconds = seconds;
      pthread_create(&tid[t], NULL, fma_worker, &jobs[t]);
    }
    double wall = 0, cpu = 0;
    for (int t = 0; t < threads; t++) {
      pthread_join(tid[t], NULL);
      wall += 2.0 * jobs[t].fmas / jobs[t].wall * 1e-9 / threads;
      cpu += 2.0 * jobs[t].fmas / jobs[t].cpu * 1e-9 / threads;
    }
    if (wall > best_wall) best_wall = wall;
    if (cpu > best_cpu) best_cpu = cpu;
  }
  printf("%-7s %d thread%s: %7.1f GFLOP/s per thread (wall), %7.1f (CPU time), best of %d\n", name,
         threads, threads == 1 ? " " : "s", best_wall, best_cpu, reps);
}

int main(int argc, char **argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 0.5;
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  const char *which = argc > 3 ? argv[3] : "all";
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  __builtin_cpu_init();
  const int has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const int has_avx512 = __builtin_cpu_supports("avx512f");
  const int all = strcmp(which, "all") == 0;
  int ran = 0;
  if ((all || strcmp(which, "avx2") == 0) && has_avx2) {
    measure("avx2", 0, threads, seconds, 5);
    ran++;
  }
  if ((all || strcmp(which, "avx512") == 0) && has_avx512) {
    measure("avx512", 1, threads, seconds, 5);
    ran++;
  }
  if (!ran) {
    fprintf(stderr, "fma_peak: %s not supported on this CPU\n", which);
    return 1;
  }
  return 0;
}
#endif  // FMA_PEAK_NO_MAIN
#endif
