// AVX-512 micro-kernel for caps_sgemm_packed: 12 x 32 register block (24 zmm accumulators),
// one broadcast of A per row and two 16-wide loads of B per k. Rows < 12 at the M edge use the
// same code instantiated with fewer rows; columns < 32 at the N edge use masked loads/stores.
// See gemm.c for the packed layouts (tile sizes in gemm_config.h).

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <stddef.h>

#include "gemm_config.h"

#define T512 __attribute__((target("avx512f,avx2,fma")))  // AVX512F only: no VL/BW/DQ needed
#define INL static inline __attribute__((always_inline))

enum { MR = CAPS_GEMM_AVX512_MR, NR = CAPS_GEMM_AVX512_NR, KU = CAPS_GEMM_KU };
_Static_assert(MR == 12 && NR == 32, "this file's kernel is written for a 12x32 tile");
#ifndef PF_HINT
#define PF_HINT _MM_HINT_T0
#endif

#define DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define FMA_ROW(i, kk)                                 \
  if (ROWS > i) {                                      \
    const __m512 a = _mm512_set1_ps(A[i * KU + (kk)]); \
    c##i##a = _mm512_fmadd_ps(a, b0, c##i##a);         \
    c##i##b = _mm512_fmadd_ps(a, b1, c##i##b);         \
  }
#define STEP(kk)                                           \
  {                                                        \
    const __m512 b0 = _mm512_loadu_ps(B + NR * (kk));      \
    const __m512 b1 = _mm512_loadu_ps(B + NR * (kk) + 16); \
    FMA_ROW(0, kk)                                         \
    FMA_ROW(1, kk)                                         \
    FMA_ROW(2, kk)                                         \
    FMA_ROW(3, kk)                                         \
    FMA_ROW(4, kk)                                         \
    FMA_ROW(5, kk)                                         \
    FMA_ROW(6, kk)                                         \
    FMA_ROW(7, kk)                                         \
    FMA_ROW(8, kk)                                         \
    FMA_ROW(9, kk)                                         \
    FMA_ROW(10, kk)                                        \
    FMA_ROW(11, kk)                                        \
  }
#define STORE_ROW(i)                                             \
  if (ROWS > i) {                                                \
    float *c = C + (size_t)ldc * (i);                            \
    __m512 va = c##i##a, vb = c##i##b;                           \
    if (load_c) {                                                \
      va = _mm512_add_ps(va, _mm512_maskz_loadu_ps(m0, c));      \
      vb = _mm512_add_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16)); \
    }                                                            \
    va = _mm512_add_ps(va, bias0);                               \
    vb = _mm512_add_ps(vb, bias1);                               \
    if (relu) {                                                  \
      va = _mm512_max_ps(va, zero);                              \
      vb = _mm512_max_ps(vb, zero);                              \
    }                                                            \
    _mm512_mask_storeu_ps(c, m0, va);                            \
    _mm512_mask_storeu_ps(c + 16, m1, vb);                       \
  }

INL T512 void kern_rows(const int ROWS, int nr, int nchunks, const float *A, const float *B,
                        float *C, int ldc, int load_c, const float *bias, int relu, const float *pf,
                        int pfq) {
  DECL(0)
  DECL(1)
  DECL(2)
  DECL(3)
  DECL(4)
  DECL(5)
  DECL(6)
  DECL(7)
  DECL(8)
  DECL(9)
  DECL(10)
  DECL(11)
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
  const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
  const __mmask16 m1 = nr >= 32  ? (__mmask16)0xFFFF
                       : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u)
                                 : (__mmask16)0;
  const __m512 zero = _mm512_setzero_ps();
  __m512 bias0 = zero, bias1 = zero;
  if (bias) {
    bias0 = _mm512_maskz_loadu_ps(m0, bias);
    bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
  }
  STORE_ROW(0)
  STORE_ROW(1)
  STORE_ROW(2)
  STORE_ROW(3)
  STORE_ROW(4)
  STORE_ROW(5)
  STORE_ROW(6)
  STORE_ROW(7)
  STORE_ROW(8)
  STORE_ROW(9)
  STORE_ROW(10)
  STORE_ROW(11)
}

#define INST(r)                                                                                \
  static T512 void kern_##r(int nr, int nchunks, const float *A, const float *B, float *C,     \
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
INST(7)
INST(8)
INST(9)
INST(10)
INST(11)
INST(12)

typedef void (*kfn)(int, int, const float *, const float *, float *, int, int, const float *, int,
                    const float *, int);
static const kfn kerns[MR + 1] = {0,      kern_1, kern_2, kern_3,  kern_4,  kern_5, kern_6,
                                  kern_7, kern_8, kern_9, kern_10, kern_11, kern_12};

__attribute__((visibility("hidden"))) void caps_gemm_kern_avx512_12x32(
    int mr, int nr, int nchunks, const float *A, const float *B, float *C, int ldc, int load_c,
    const float *bias, int relu, const float *pf, int pfq) {
  kerns[mr](nr, nchunks, A, B, C, ldc, load_c, bias, relu, pf, pfq);
}

#endif
