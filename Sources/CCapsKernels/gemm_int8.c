// Integer GEMM with pre-packed B (u8 activations x 7-bit signed weights, exact int32 sums, float
// epilogue with per-row and per-column scales): API, kernel configs, packing, the blocked driver
// and the quantization helpers the int8 runtime uses. The micro-kernels live in
// gemm_int8_avx2.c (vpmaddubsw + vpmaddwd) and gemm_int8_portable.c (plain C); tile sizes in
// gemm_config.h. Same structure as gemm.c: the kernel is recorded in the packed B's header and
// a header that does not match (K, N, kernel, CPU) is refused.
//
// Layouts (MR, NR per kernel; KQ = 4 k's per quad; KC, MC common):
//   B    64-byte header, then K-blocks of KC k's (the last one shorter), each split into panels
//        of NR columns: the panel of columns [j, j + NR) of the block at k = pc begins at
//        data + pc * Np + j * kc (bytes) and holds kc / 4 quads of [NR columns][4 k's] (zeros
//        past K and N). One 32-byte load is 8 columns x 4 k's.
//   A    per (KC x MC) block, micro-panels of MR rows: [quad][row 0..MR-1][4 bytes], so the
//        kernel broadcasts one 32-bit word per row and quad.
//
// Why 7-bit weights: vpmaddubsw multiplies u8 by s8 and adds adjacent pairs into an int16 with
// saturation. 255 * 127 * 2 overflows int16; with |w| <= 63 the largest pair is 32130, so the
// sums are exact on every kernel (the alternative, a u8 zero-point shift of the weights with a
// column-sum correction, costs an extra correction per output and buys one bit). VNNI
// (vpdpbusd) has no such limit but is not on the CPUs this was written and tested on.

#include "caps_gemm.h"
#include "caps_gemm_int8.h"
#include "gemm_config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  const char *name;
  int mr, nr;
  caps_i8gemm_kern_fn kern;
} i8_desc;

enum { KQ = CAPS_I8GEMM_KU, KC = CAPS_I8GEMM_KC, MC = CAPS_I8GEMM_MC };
_Static_assert(KC % (4 * KQ) == 0, "KC must be a multiple of 4 quads (the prefetch step)");

static const i8_desc g_i8[CAPS_I8GEMM_KERNEL_COUNT] = {
    {"portable", CAPS_I8GEMM_PORTABLE_MR, CAPS_I8GEMM_PORTABLE_NR, caps_i8gemm_kern_portable_4x16},
#if CAPS_GEMM_X86
    {"avx2", CAPS_I8GEMM_AVX2_MR, CAPS_I8GEMM_AVX2_NR, caps_i8gemm_kern_avx2_4x16},
#else
    {"avx2", CAPS_I8GEMM_AVX2_MR, CAPS_I8GEMM_AVX2_NR, 0},
#endif
};
_Static_assert(32 % CAPS_I8GEMM_PORTABLE_NR == 0 && 32 % CAPS_I8GEMM_AVX2_NR == 0,
               "caps_sgemm_n_align() must be a multiple of every int8 kernel's NR");

static int valid(int kernel) { return kernel >= 0 && kernel < CAPS_I8GEMM_KERNEL_COUNT; }

int caps_i8gemm_kernel_supported(int kernel) {
  if (kernel == CAPS_I8GEMM_PORTABLE) return 1;
#if CAPS_GEMM_X86
  __builtin_cpu_init();
  if (kernel == CAPS_I8GEMM_AVX2) return __builtin_cpu_supports("avx2");
#endif
  return 0;
}

int caps_i8gemm_best_kernel(void) {
  return caps_i8gemm_kernel_supported(CAPS_I8GEMM_AVX2) ? CAPS_I8GEMM_AVX2 : CAPS_I8GEMM_PORTABLE;
}

const char *caps_i8gemm_kernel_name(int kernel) { return valid(kernel) ? g_i8[kernel].name : 0; }

enum { HEADER_BYTES = 64 };
static const uint32_t MAGIC = 0x38504143u;  // "CAP8"
typedef struct {
  uint32_t magic, kernel, K, N, mr, nr, kc, kq;
  uint32_t reserved[8];
} i8_header;
_Static_assert(sizeof(i8_header) == HEADER_BYTES, "header size");

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

size_t caps_i8gemm_packed_b_bytes_for(int kernel, int K, int N) {
  if (K <= 0 || N <= 0 || !valid(kernel)) return 0;
  return HEADER_BYTES + round_up((size_t)N, g_i8[kernel].nr) * round_up((size_t)K, KQ);
}

int caps_i8gemm_packed_kernel(const void *packed_b) {
  i8_header h;
  memcpy(&h, packed_b, sizeof h);
  return h.magic == MAGIC && valid((int)h.kernel) ? (int)h.kernel : -1;
}

int caps_i8gemm_pack_b_for(int kernel, int K, int N, const int8_t *B, int ldb, void *packed) {
  if (K <= 0 || N <= 0) return 0;
  if (!valid(kernel) || !g_i8[kernel].kern || !caps_i8gemm_kernel_supported(kernel)) return -1;
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) {
      const int w = B[(size_t)k * ldb + j];
      if (w > CAPS_I8GEMM_WEIGHT_MAX || w < -CAPS_I8GEMM_WEIGHT_MAX) return -2;
    }
  const i8_desc *d = &g_i8[kernel];
  const i8_header h = {
      MAGIC, (uint32_t)kernel, (uint32_t)K, (uint32_t)N, (uint32_t)d->mr, (uint32_t)d->nr, KC, KQ,
      {0}};
  memcpy(packed, &h, sizeof h);
  int8_t *out = (int8_t *)packed + HEADER_BYTES;
  const int nr = d->nr;
  const size_t kp = round_up((size_t)K, KQ), np = round_up((size_t)N, nr);
  for (size_t pc = 0; pc < kp; pc += KC) {
    const size_t kc = kp - pc < (size_t)KC ? kp - pc : (size_t)KC;
    for (size_t j0 = 0; j0 < np; j0 += nr) {
      int8_t *dst = out + pc * np + j0 * kc;
      for (size_t q = 0; q < kc / KQ; q++)
        for (int j = 0; j < nr; j++)
          for (int kk = 0; kk < KQ; kk++) {
            const size_t k = pc + q * KQ + kk, col = j0 + j;
            dst[(q * nr + j) * KQ + kk] = k < (size_t)K && col < (size_t)N ? B[k * ldb + col] : 0;
          }
    }
  }
  return 0;
}

static int block_rows(const i8_desc *d, int M) {
  const int mblocks = (M + MC - 1) / MC;
  return (int)round_up((size_t)((M + mblocks - 1) / mblocks), d->mr);
}

size_t caps_i8gemm_scratch_bytes(int M, int K) {
  if (M <= 0 || K <= 0) return 0;
  size_t best = 0;
  for (int i = 0; i < CAPS_I8GEMM_KERNEL_COUNT; i++) {
    const i8_desc *d = &g_i8[i];
    if (!d->kern) continue;
    const size_t kp = round_up((size_t)K, KQ), kc = kp < (size_t)KC ? kp : (size_t)KC;
    const size_t need = (size_t)block_rows(d, M) * kc;
    if (need > best) best = need;
  }
  return best;
}

static const i8_desc *packed_desc(const void *packed_b, int K, int N) {
  i8_header h;
  memcpy(&h, packed_b, sizeof h);
  if (h.magic != MAGIC || !valid((int)h.kernel)) return 0;
  const i8_desc *d = &g_i8[h.kernel];
  if (h.K != (uint32_t)K || h.N != (uint32_t)N || h.mr != (uint32_t)d->mr ||
      h.nr != (uint32_t)d->nr || h.kc != KC || h.kq != KQ)
    return 0;
  if (!d->kern || !caps_i8gemm_kernel_supported((int)h.kernel)) return 0;
  return d;
}

// Packs rows [0, mc) of A, k-range [k0, k0 + kc) (kc a multiple of KQ; k >= K zero-filled).
static void pack_a(int MR, int mc, int kc, int k0, int K, const uint8_t *A, int lda, uint8_t *dst) {
  const int kvalid = K - k0 < kc ? K - k0 : kc;
  const int full = kvalid / KQ * KQ;
  for (int ir = 0; ir < mc; ir += MR) {
    const int rows = mc - ir < MR ? mc - ir : MR;
    uint8_t *panel = dst + (size_t)ir * kc;
    for (int i = 0; i < MR; i++) {
      uint8_t *p = panel + (size_t)i * KQ;
      if (i >= rows) {  // rows past M: zeros, so the kernel may read the whole micro-panel
        for (int k = 0; k < kc; k += KQ, p += (size_t)MR * KQ) memset(p, 0, KQ);
        continue;
      }
      const uint8_t *src = A + (size_t)(ir + i) * lda + k0;
      int k = 0;
      for (; k < full; k += KQ, p += (size_t)MR * KQ) memcpy(p, src + k, KQ);
      for (; k < kc; k += KQ, p += (size_t)MR * KQ)
        for (int kk = 0; kk < KQ; kk++) p[kk] = k + kk < kvalid ? src[k + kk] : 0;
    }
  }
}

int caps_i8gemm_packed(int M, int N, int K, const uint8_t *A, int lda, const void *packed_b,
                       const float *row_scale, const float *col_scale, const float *bias, int relu,
                       float *C, int ldc, int n0, int n1, void *scratch) {
  if (M <= 0 || N <= 0) return 0;
  if (n0 < 0) n0 = 0;
  if (n1 > N) n1 = N;
  if (n0 >= n1) return 0;
  if (K <= 0) {
    caps_gemm_fill_bias(M, n0, n1, bias, relu, C, ldc);
    return 0;
  }
  const i8_desc *d = packed_desc(packed_b, K, N);
  if (!d) return -1;
  const int8_t *pb = (const int8_t *)packed_b + HEADER_BYTES;
  const int MR = d->mr, NR = d->nr;
  const caps_i8gemm_kern_fn kern = d->kern;
  const int kp = (int)round_up((size_t)K, KQ);
  const size_t np = round_up((size_t)N, NR);
  const int mcb = block_rows(d, M);
  uint8_t *ap = (uint8_t *)scratch;
  for (int pc = 0; pc < kp; pc += KC) {
    const int kc = kp - pc < KC ? kp - pc : KC, nq = kc / KQ;
    const int first = pc == 0, last = pc + kc >= kp;
    for (int ic = 0; ic < M; ic += mcb) {
      const int mc = M - ic < mcb ? M - ic : mcb, nir = (mc + MR - 1) / MR;
      pack_a(MR, mc, kc, pc, K, A + (size_t)ic * lda, lda, ap);
      const int more_rows = ic + mcb < M;
      const int npc = more_rows ? pc : pc + kc, nkc = kp - npc < KC ? kp - npc : KC;
      for (int jr = n0; jr < n1; jr += NR) {
        const int nr = n1 - jr < NR ? n1 - jr : NR;
        const int8_t *bp = pb + (size_t)pc * np + (size_t)jr * kc;
        // The next B panel is prefetched while this one is in use (as in gemm.c).
        const int8_t *next = jr + NR < n1         ? bp + (size_t)kc * NR
                             : more_rows || !last ? pb + (size_t)npc * np + (size_t)n0 * nkc
                                                  : 0;
        const int lines = kc * NR / 64, steps = (nq + 3) / 4;
        const int per_call = (lines + nir - 1) / nir,
                  pfq = next ? (per_call + steps - 1) / steps : 0;
        for (int ir = 0, t = 0; ir < mc; ir += MR, t++) {
          const int mr = mc - ir < MR ? mc - ir : MR;
          kern(mr, nr, nq, ap + (size_t)ir * kc, bp, C + (size_t)(ic + ir) * ldc + jr, ldc, !first,
               row_scale ? row_scale + ic + ir : 0, col_scale + jr, (first && bias) ? bias + jr : 0,
               last && relu, next ? next + (size_t)t * per_call * 64 : 0, pfq);
        }
      }
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Quantization helpers.

void caps_quantize_columns_s7(int K, int N, const float *B, int ldb, int8_t *q, float *scale) {
  for (int j = 0; j < N; j++) {
    float m = 0;
    for (int k = 0; k < K; k++) {
      const float a = fabsf(B[(size_t)k * ldb + j]);
      if (a > m) m = a;
    }
    scale[j] = m > 0 ? m / (float)CAPS_I8GEMM_WEIGHT_MAX : 1.0f;
  }
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) {
      float v = roundf(B[(size_t)k * ldb + j] / scale[j]);
      if (v > CAPS_I8GEMM_WEIGHT_MAX) v = CAPS_I8GEMM_WEIGHT_MAX;
      if (v < -CAPS_I8GEMM_WEIGHT_MAX) v = -CAPS_I8GEMM_WEIGHT_MAX;
      q[(size_t)k * N + j] = (int8_t)v;
    }
}

float caps_max_or_zero(const float *x, size_t count) {
  float m = 0;
  for (size_t k = 0; k < count; k++) m = x[k] > m ? x[k] : m;
  return m;
}

void caps_quantize_u8(const float *x, size_t count, float a, float b, uint8_t *out) {
  for (size_t k = 0; k < count; k++) {
    float v = x[k] * a + b;
    v = v > 0.0f ? v : 0.0f;  // NaN -> 0 too
    v = v < 255.0f ? v : 255.0f;
    out[k] = (uint8_t)(v + 0.5f);
  }
}

void caps_im2col_nchw_u8(const uint8_t *x, int channels, int height, int width, int kernel,
                         int stride, uint8_t *out) {
  const int oh_count = (height - kernel) / stride + 1, ow_count = (width - kernel) / stride + 1;
  for (int oh = 0; oh < oh_count; oh++)
    for (int ow = 0; ow < ow_count; ow++)
      for (int c = 0; c < channels; c++)
        for (int kh = 0; kh < kernel; kh++) {
          memcpy(out, x + ((size_t)c * height + (oh * stride + kh)) * width + ow * stride,
                 (size_t)kernel);
          out += kernel;
        }
}

void caps_im2col_nhwc_u8(const uint8_t *x, int height, int width, int channels, int kernel,
                         int stride, uint8_t *out) {
  const int oh_count = (height - kernel) / stride + 1, ow_count = (width - kernel) / stride + 1;
  const size_t run = (size_t)kernel * channels;
  for (int oh = 0; oh < oh_count; oh++)
    for (int ow = 0; ow < ow_count; ow++)
      for (int kh = 0; kh < kernel; kh++) {
        memcpy(out, x + ((size_t)(oh * stride + kh) * width + ow * stride) * channels, run);
        out += run;
      }
}
