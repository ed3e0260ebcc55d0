// Portable micro-kernel for caps_i8gemm_packed: 4 x 16 int32 sums in plain C (the compiler
// vectorises the column loop where it can), the same packed layouts and epilogue as the AVX2
// kernel, so its results are bitwise equal to it (exact integer sums, same float epilogue order).

#include <stddef.h>
#include <stdint.h>

#include "gemm_config.h"

enum { MR = CAPS_I8GEMM_PORTABLE_MR, NR = CAPS_I8GEMM_PORTABLE_NR, KQ = CAPS_I8GEMM_KU };

__attribute__((visibility("hidden"))) void caps_i8gemm_kern_portable_4x16(
    int mr, int nr, int nquads, const unsigned char *A, const signed char *B, float *C, int ldc,
    int load_c, const float *row_scale, const float *col_scale, const float *bias, int relu,
    const void *pf, int pfq) {
  (void)pf;
  (void)pfq;
  int32_t acc[MR][NR] = {{0}};
  for (int q = 0; q < nquads; q++) {
    for (int i = 0; i < MR; i++) {
      const unsigned char *a = A + i * KQ;
      for (int j = 0; j < NR; j++) {
        const signed char *b = B + j * KQ;
        acc[i][j] += a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
      }
    }
    A += MR * KQ;
    B += NR * KQ;
  }
  for (int i = 0; i < mr; i++) {
    float *c = C + (size_t)i * ldc;
    const float rs = row_scale ? row_scale[i] : 1.0f;
    for (int j = 0; j < nr; j++) {
      float v = (float)acc[i][j] * (rs * col_scale[j]);
      if (load_c) v += c[j];
      if (bias) v += bias[j];
      if (relu && !(v > 0.0f)) v = 0.0f;
      c[j] = v;
    }
  }
}
