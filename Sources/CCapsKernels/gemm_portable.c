// Portable micro-kernel for caps_sgemm_packed: 6 x 16 register block written with the
// GCC/Clang generic vector extension (4-float vectors), so it becomes NEON on arm64 and SSE on
// x86 without any target-specific code; plain scalar C for other compilers.
// See gemm.c for the packed layouts (tile sizes in gemm_config.h).

#include <stddef.h>

#include "gemm_config.h"

enum { MR = CAPS_GEMM_PORTABLE_MR, NR = CAPS_GEMM_PORTABLE_NR, KU = CAPS_GEMM_KU };
_Static_assert(MR == 6 && NR == 16, "this file's kernel is written for a 6x16 tile");

// Adds the finished tile t (MR x NR, row stride NR) into C with the epilogue applied.
static void store_tile(const float *t, int mr, int nr, float *C, int ldc, int load_c,
                       const float *bias, int relu) {
  for (int i = 0; i < mr; i++) {
    float *c = C + (size_t)i * ldc;
    for (int j = 0; j < nr; j++) {
      float v = t[i * NR + j];
      if (load_c) v += c[j];
      if (bias) v += bias[j];
      if (relu && !(v > 0.0f)) v = 0.0f;
      c[j] = v;
    }
  }
}

#if defined(__GNUC__) || defined(__clang__)

typedef float v4f __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) v4f ld4(const float *p) {
  v4f v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

#define DECL(i) v4f c##i##0 = {0}, c##i##1 = {0}, c##i##2 = {0}, c##i##3 = {0};
#define FMA_ROW(i, kk)                \
  if (ROWS > i) {                     \
    const float s = A[i * KU + (kk)]; \
    const v4f a = {s, s, s, s};       \
    c##i##0 = c##i##0 + a * b0;       \
    c##i##1 = c##i##1 + a * b1;       \
    c##i##2 = c##i##2 + a * b2;       \
    c##i##3 = c##i##3 + a * b3;       \
  }
#define STEP(kk)                                                         \
  {                                                                      \
    const v4f b0 = ld4(B + NR * (kk)), b1 = ld4(B + NR * (kk) + 4);      \
    const v4f b2 = ld4(B + NR * (kk) + 8), b3 = ld4(B + NR * (kk) + 12); \
    FMA_ROW(0, kk)                                                       \
    FMA_ROW(1, kk)                                                       \
    FMA_ROW(2, kk)                                                       \
    FMA_ROW(3, kk)                                                       \
    FMA_ROW(4, kk)                                                       \
    FMA_ROW(5, kk)                                                       \
  }
#define SAVE(i)                                               \
  if (ROWS > i) {                                             \
    __builtin_memcpy(t + i * NR, &c##i##0, sizeof(v4f));      \
    __builtin_memcpy(t + i * NR + 4, &c##i##1, sizeof(v4f));  \
    __builtin_memcpy(t + i * NR + 8, &c##i##2, sizeof(v4f));  \
    __builtin_memcpy(t + i * NR + 12, &c##i##3, sizeof(v4f)); \
  }

static inline __attribute__((always_inline)) void kern_rows(const int ROWS, int nr, int nchunks,
                                                            const float *A, const float *B,
                                                            float *C, int ldc, int load_c,
                                                            const float *bias, int relu) {
  DECL(0)
  DECL(1)
  DECL(2)
  DECL(3)
  DECL(4)
  DECL(5)
  for (int ch = 0; ch < nchunks; ch++) {
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
  float t[MR * NR];
  SAVE(0)
  SAVE(1)
  SAVE(2)
  SAVE(3)
  SAVE(4)
  SAVE(5)
  store_tile(t, ROWS, nr, C, ldc, load_c, bias, relu);
}

#define INST(r)                                                                                \
  static void kern_##r(int nr, int nchunks, const float *A, const float *B, float *C, int ldc, \
                       int load_c, const float *bias, int relu) {                              \
    kern_rows(r, nr, nchunks, A, B, C, ldc, load_c, bias, relu);                               \
  }
INST(1)
INST(2)
INST(3)
INST(4)
INST(5)
INST(6)

typedef void (*kfn)(int, int, const float *, const float *, float *, int, int, const float *, int);
static const kfn kerns[MR + 1] = {0, kern_1, kern_2, kern_3, kern_4, kern_5, kern_6};

void caps_gemm_kern_portable_6x16(int mr, int nr, int nchunks, const float *A, const float *B,
                                  float *C, int ldc, int load_c, const float *bias, int relu,
                                  const float *pf, int pfq) {
  (void)pf, (void)pfq;
  kerns[mr](nr, nchunks, A, B, C, ldc, load_c, bias, relu);
}

#else  // plain C

void caps_gemm_kern_portable_6x16(int mr, int nr, int nchunks, const float *A, const float *B,
                                  float *C, int ldc, int load_c, const float *bias, int relu,
                                  const float *pf, int pfq) {
  (void)pf, (void)pfq;
  float t[MR * NR] = {0};
  for (int c = 0; c < nchunks; c++) {
    for (int kk = 0; kk < KU; kk++) {
      const float *b = B + kk * NR;
      for (int i = 0; i < mr; i++) {
        const float a = A[i * KU + kk];
        for (int j = 0; j < NR; j++) t[i * NR + j] += a * b[j];
      }
    }
    A += MR * KU;
    B += KU * NR;
  }
  store_tile(t, mr, nr, C, ldc, load_c, bias, relu);
}

#endif
