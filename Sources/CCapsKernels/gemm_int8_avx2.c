// AVX2 micro-kernel for caps_i8gemm_packed: 4 x 16 register block of int32 sums (8 ymm). Per
// quad of k: two 32-byte loads of B (8 columns x 4 k's each), one 32-bit broadcast of A per row,
// vpmaddubsw (u8 x s8, adjacent pairs added into int16: exact since |w| <= 63, see gemm_int8.c)
// then vpmaddwd by ones (pairs of int16 into int32) and vpaddd into the accumulators.
// Rows past mr are zeros in the packed A (computed, not stored); columns < 16 go through a buffer.

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "gemm_config.h"

#define T256 __attribute__((target("avx2")))

enum { MR = CAPS_I8GEMM_AVX2_MR, NR = CAPS_I8GEMM_AVX2_NR, KQ = CAPS_I8GEMM_KU };
_Static_assert(MR == 4 && NR == 16, "this file's kernel is written for a 4x16 tile");

#define ROW(i)                                                                                 \
  {                                                                                            \
    int32_t w;                                                                                 \
    memcpy(&w, A + (i)*KQ, 4);                                                                 \
    const __m256i a = _mm256_set1_epi32(w);                                                    \
    c##i##a = _mm256_add_epi32(c##i##a, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b0), ones)); \
    c##i##b = _mm256_add_epi32(c##i##b, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b1), ones)); \
  }
#define QUAD                                                          \
  {                                                                   \
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)B);        \
    const __m256i b1 = _mm256_loadu_si256((const __m256i *)(B + 32)); \
    ROW(0) ROW(1) ROW(2) ROW(3) A += MR * KQ;                         \
    B += NR * KQ;                                                     \
  }

T256 static void store_row(__m256i sa, __m256i sb, int nr, float *c, int load_c, float rs,
                           const float *cs, const float *bias, int relu) {
  const __m256 r = _mm256_set1_ps(rs);
  if (nr == NR) {
    __m256 va = _mm256_mul_ps(_mm256_cvtepi32_ps(sa), _mm256_mul_ps(r, _mm256_loadu_ps(cs)));
    __m256 vb = _mm256_mul_ps(_mm256_cvtepi32_ps(sb), _mm256_mul_ps(r, _mm256_loadu_ps(cs + 8)));
    if (load_c) {
      va = _mm256_add_ps(va, _mm256_loadu_ps(c));
      vb = _mm256_add_ps(vb, _mm256_loadu_ps(c + 8));
    }
    if (bias) {
      va = _mm256_add_ps(va, _mm256_loadu_ps(bias));
      vb = _mm256_add_ps(vb, _mm256_loadu_ps(bias + 8));
    }
    if (relu) {
      va = _mm256_max_ps(va, _mm256_setzero_ps());
      vb = _mm256_max_ps(vb, _mm256_setzero_ps());
    }
    _mm256_storeu_ps(c, va);
    _mm256_storeu_ps(c + 8, vb);
    return;
  }
  int32_t t[NR];
  _mm256_storeu_si256((__m256i *)t, sa);
  _mm256_storeu_si256((__m256i *)(t + 8), sb);
  for (int j = 0; j < nr; j++) {
    float v = (float)t[j] * (rs * cs[j]);
    if (load_c) v += c[j];
    if (bias) v += bias[j];
    if (relu && !(v > 0.0f)) v = 0.0f;
    c[j] = v;
  }
}

__attribute__((visibility("hidden"))) T256 void caps_i8gemm_kern_avx2_4x16(
    int mr, int nr, int nquads, const unsigned char *A, const signed char *B, float *C, int ldc,
    int load_c, const float *row_scale, const float *col_scale, const float *bias, int relu,
    const void *pf, int pfq) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i c0a = _mm256_setzero_si256(), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a,
          c3a = c0a, c3b = c0a;
  const char *p = (const char *)pf;
  int q = 0;
  for (; q + 4 <= nquads; q += 4) {
    for (int l = 0; l < pfq; l++) _mm_prefetch(p + 64 * l, _MM_HINT_T1);
    p += 64 * pfq;
    QUAD QUAD QUAD QUAD
  }
  for (; q < nquads; q++)
    QUAD const __m256i acc[MR][2] = {{c0a, c0b}, {c1a, c1b}, {c2a, c2b}, {c3a, c3b}};
  for (int i = 0; i < mr; i++)
    store_row(acc[i][0], acc[i][1], nr, C + (size_t)i * ldc, load_c,
              row_scale ? row_scale[i] : 1.0f, col_scale, bias, relu);
}

#endif
