// AVX2+FMA micro-kernel for caps_sgemm_packed: 6 x 16 register block (12 ymm accumulators),
// one broadcast of A per row and two 8-wide loads of B per k. Rows < 6 at the M edge use the
// same code instantiated with fewer rows; columns < 16 at the N edge go through a small buffer.
// See gemm.c for the packed layouts (tile sizes in gemm_config.h).

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <stddef.h>

#include "gemm_config.h"

#define T256 __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline))

enum { MR = CAPS_GEMM_AVX2_MR, NR = CAPS_GEMM_AVX2_NR, KU = CAPS_GEMM_KU };
_Static_assert(MR == 6 && NR == 16, "this file's kernel is written for a 6x16 tile");
// The next B panel is prefetched into L2, not L1: with a 32 KiB L1 (Zen 3, most AVX2 cores) the
// panel in use (16 KiB), the A micro-panel (6 KiB) and a second 16 KiB panel do not fit together,
// and prefetching into L1 evicted the panel still in use. Measured on an AVX2 Zen 3 EPYC, conv2
// shapes, 5 interleaved runs: 84-86% of the FMA peak with T0, 89-97% with T1 (Tools/dev/kernels).
#ifndef PF_HINT
#define PF_HINT _MM_HINT_T1
#endif

#define DECL(i) __m256 c##i##a = _mm256_setzero_ps(), c##i##b = _mm256_setzero_ps();
#define FMA_ROW(i, kk)                                       \
  if (ROWS > i) {                                            \
    const __m256 a = _mm256_broadcast_ss(A + i * KU + (kk)); \
    c##i##a = _mm256_fmadd_ps(a, b0, c##i##a);               \
    c##i##b = _mm256_fmadd_ps(a, b1, c##i##b);               \
  }
#define STEP(kk)                                          \
  {                                                       \
    const __m256 b0 = _mm256_loadu_ps(B + NR * (kk));     \
    const __m256 b1 = _mm256_loadu_ps(B + NR * (kk) + 8); \
    FMA_ROW(0, kk)                                        \
    FMA_ROW(1, kk)                                        \
    FMA_ROW(2, kk)                                        \
    FMA_ROW(3, kk)                                        \
    FMA_ROW(4, kk)                                        \
    FMA_ROW(5, kk)                                        \
  }
#define STORE_ROW(i)                                    \
  if (ROWS > i) {                                       \
    float *c = C + (size_t)ldc * (i);                   \
    __m256 va = c##i##a, vb = c##i##b;                  \
    if (full) {                                         \
      if (load_c) {                                     \
        va = _mm256_add_ps(va, _mm256_loadu_ps(c));     \
        vb = _mm256_add_ps(vb, _mm256_loadu_ps(c + 8)); \
      }                                                 \
      va = _mm256_add_ps(va, bias0);                    \
      vb = _mm256_add_ps(vb, bias1);                    \
      if (relu) {                                       \
        va = _mm256_max_ps(va, zero);                   \
        vb = _mm256_max_ps(vb, zero);                   \
      }                                                 \
      _mm256_storeu_ps(c, va);                          \
      _mm256_storeu_ps(c + 8, vb);                      \
    } else {                                            \
      float t[NR];                                      \
      _mm256_storeu_ps(t, va);                          \
      _mm256_storeu_ps(t + 8, vb);                      \
      for (int j = 0; j < nr; j++) {                    \
        float v = t[j];                                 \
        if (load_c) v += c[j];                          \
        if (bias) v += bias[j];                         \
        if (relu && !(v > 0.0f)) v = 0.0f;              \
        c[j] = v;                                       \
      }                                                 \
    }                                                   \
  }

INL T256 void kern_rows(const int ROWS, int nr, int nchunks, const float *A, const float *B,
                        float *C, int ldc, int load_c, const float *bias, int relu, const float *pf,
                        int pfq) {
  DECL(0)
  DECL(1)
  DECL(2)
  DECL(3)
  DECL(4)
  DECL(5)
  for (int ch = 0; ch < nchunks; ch++) {
    for (int l = 0; l < pfq; l++) _mm_prefetch((const char *)(pf + 16 * l), PF_HINT);
    pf += 16 * pfq;
    STEP(0)
    STEP(1)
    STEP(2)
    STEP(3)
    STEP(4)
    STEP(5)
    STEP(6)
    STEP(7)
    A += MR * KU;
    B += KU * NR;
  }
  const int full = nr == NR;
  const __m256 zero = _mm256_setzero_ps();
  __m256 bias0 = zero, bias1 = zero;
  if (bias && full) {
    bias0 = _mm256_loadu_ps(bias);
    bias1 = _mm256_loadu_ps(bias + 8);
  }
  STORE_ROW(0)
  STORE_ROW(1)
  STORE_ROW(2)
  STORE_ROW(3)
  STORE_ROW(4)
  STORE_ROW(5)
}

#define INST(r)                                                                                \
  static T256 void kern_##r(int nr, int nchunks, const float *A, const float *B, float *C,     \
                            int ldc, int load_c, const float *bias, int relu, const float *pf, \
                            int pfq) {                                                         \
    kern_rows(r, nr, nchunks, A, B, C, ldc, load_c, bias, relu, pf, pfq);                      \
  }
INST(1)
INST(2)
INST(3)
INST(4)
INST(5)
INST(6)

typedef void (*kfn)(int, int, const float *, const float *, float *, int, int, const float *, int,
                    const float *, int);
static const kfn kerns[MR + 1] = {0, kern_1, kern_2, kern_3, kern_4, kern_5, kern_6};

__attribute__((visibility("hidden"))) void caps_gemm_kern_avx2_6x16(int mr, int nr, int nchunks,
                                                                    const float *A, const float *B,
                                                                    float *C, int ldc, int load_c,
                                                                    const float *bias, int relu,
                                                                    const float *pf, int pfq) {
  kerns[mr](nr, nchunks, A, B, C, ldc, load_c, bias, relu, pf, pfq);
}

#endif
