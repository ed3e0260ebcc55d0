// Single-precision GEMM with pre-packed B: API, run-time ISA dispatch, packing, blocked driver
// and the portable micro-kernel. The AVX2 / AVX-512 micro-kernels live in gemm_avx2.c and
// gemm_avx512.c (compiled with per-function target attributes, so no special compiler flags).
//
// Layouts (all chosen by the ISA descriptor below):
//   KU   k-chunk: K is padded to a multiple of KU (zeros in both packed operands).
//   B    K-blocks of KC rows (the last one shorter), each split into panels of NR columns:
//        block starting at row pc begins at packed + pc * Np (Np = N rounded up to NR); in it,
//        the panel of columns [j, j + NR) begins at j * kc and holds kc rows of NR contiguous
//        floats (columns >= N and rows >= K zero-filled). So the driver, which walks K-blocks
//        then panels, reads B strictly sequentially.
//   A    per (KC x MC) block, micro-panels of MR rows; inside a micro-panel, chunks of KU k's:
//        [chunk][row 0..MR-1][KU floats]. This is a plain copy of row segments (no transpose),
//        and the kernel reads a broadcast of A(i, k) at a compile-time offset i*KU + kk.

#include "caps_gemm.h"

#include <stdint.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__))
#define CAPS_GEMM_X86 1
#else
#define CAPS_GEMM_X86 0
#endif

typedef void (*caps_gemm_kern_fn)(int mr, int nr, int nchunks, const float *A, const float *B,
                                  float *C, int ldc, int load_c, const float *bias, int relu, const float *pf, int pfq);

typedef struct {
  const char *name;
  int mr, nr, ku, kc, mc;
  caps_gemm_kern_fn kern;
} caps_gemm_isa_desc;

#if CAPS_GEMM_X86
__attribute__((visibility("hidden"))) void caps_gemm_kern_avx2(int mr, int nr, int nchunks,
                                                                const float *A, const float *B,
                                                                float *C, int ldc, int load_c,
                                                                const float *bias, int relu, const float *pf, int pfq);
__attribute__((visibility("hidden"))) void caps_gemm_kern_avx512(int mr, int nr, int nchunks,
                                                                  const float *A, const float *B,
                                                                  float *C, int ldc, int load_c,
                                                                  const float *bias, int relu, const float *pf, int pfq);
#endif

// ---------------------------------------------------------------------------------------------
// Portable micro-kernel: MR x NR = 4 x 16, plain C (auto-vectorizes at -O2 with clang).

enum { P_MR = 4, P_NR = 16, P_KU = 8 };

static void kern_portable(int mr, int nr, int nchunks, const float *A, const float *B, float *C,
                          int ldc, int load_c, const float *bias, int relu, const float *pf, int pfq) {
  float acc[P_MR][P_NR];
  for (int i = 0; i < P_MR; i++)
    for (int j = 0; j < P_NR; j++) acc[i][j] = 0.0f;
  for (int c = 0; c < nchunks; c++) {
    for (int kk = 0; kk < P_KU; kk++) {
      const float *b = B + kk * P_NR;
      for (int i = 0; i < mr; i++) {
        const float a = A[i * P_KU + kk];
        for (int j = 0; j < P_NR; j++) acc[i][j] += a * b[j];
      }
    }
    A += P_MR * P_KU;
    B += P_KU * P_NR;
  }
  for (int i = 0; i < mr; i++) {
    float *c = C + (size_t)i * ldc;
    for (int j = 0; j < nr; j++) {
      float v = acc[i][j];
      if (load_c) v += c[j];
      if (bias) v += bias[j];
      if (relu && !(v > 0.0f)) v = 0.0f;
      c[j] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ISA table and dispatch.

enum { ISA_PORTABLE = 0, ISA_AVX2 = 1, ISA_AVX512 = 2, ISA_COUNT = 3 };

#ifndef AVX2_KC
#define AVX2_KC 256
#endif
#ifndef AVX2_MC
#define AVX2_MC 192
#endif
#ifndef AVX512_KC
#define AVX512_KC 256
#endif
#ifndef AVX512_MC
#define AVX512_MC 288
#endif
static const caps_gemm_isa_desc g_isas[ISA_COUNT] = {
    {"portable", P_MR, P_NR, P_KU, 256, 128, kern_portable},
#if CAPS_GEMM_X86
    {"avx2", 6, 16, 8, AVX2_KC, AVX2_MC, caps_gemm_kern_avx2},
    {"avx512", 12, 32, 8, AVX512_KC, AVX512_MC, caps_gemm_kern_avx512},
#else
    {"avx2", 0, 0, 0, 0, 0, 0},
    {"avx512", 0, 0, 0, 0, 0, 0},
#endif
};

static int g_isa = -1;  // resolved lazily; accessed with relaxed atomics

static int isa_supported(int isa) {
  if (isa == ISA_PORTABLE) return 1;
#if CAPS_GEMM_X86
  __builtin_cpu_init();
  if (isa == ISA_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == ISA_AVX512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
#endif
  return 0;
}

static int current_isa(void) {
  int isa = __atomic_load_n(&g_isa, __ATOMIC_RELAXED);
  if (isa >= 0) return isa;
  isa = isa_supported(ISA_AVX512) ? ISA_AVX512 : isa_supported(ISA_AVX2) ? ISA_AVX2 : ISA_PORTABLE;
  __atomic_store_n(&g_isa, isa, __ATOMIC_RELAXED);
  return isa;
}

static const caps_gemm_isa_desc *desc(void) { return &g_isas[current_isa()]; }

const char *caps_sgemm_isa(void) { return desc()->name; }

int caps_sgemm_force_isa(const char *name) {
  if (!name) return 0;
  for (int i = 0; i < ISA_COUNT; i++) {
    if (strcmp(name, g_isas[i].name) == 0) {
      if (!isa_supported(i)) return 0;
      __atomic_store_n(&g_isa, i, __ATOMIC_RELAXED);
      return 1;
    }
  }
  return 0;
}

int caps_sgemm_n_align(void) { return desc()->nr; }

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

size_t caps_sgemm_packed_b_count(int K, int N) {
  const caps_gemm_isa_desc *d = desc();
  if (K <= 0 || N <= 0) return 0;
  return round_up((size_t)N, d->nr) * round_up((size_t)K, d->ku);
}

void caps_sgemm_pack_b(int K, int N, const float *B, int ldb, float *packed) {
  const caps_gemm_isa_desc *d = desc();
  if (K <= 0 || N <= 0) return;
  const int nr = d->nr;
  const size_t kp = round_up((size_t)K, d->ku), np = round_up((size_t)N, nr);
  for (size_t pc = 0; pc < kp; pc += d->kc) {
    const size_t kc = kp - pc < (size_t)d->kc ? kp - pc : (size_t)d->kc;
    for (int j0 = 0; j0 < N; j0 += nr) {
      float *dst = packed + pc * np + (size_t)j0 * kc;
      const int w = N - j0 < nr ? N - j0 : nr;
      for (size_t k = 0; k < kc; k++) {
        float *row = dst + k * nr;
        int j = 0;
        if (pc + k < (size_t)K) {
          const float *src = B + (pc + k) * (size_t)ldb + j0;
          for (; j < w; j++) row[j] = src[j];
        }
        for (; j < nr; j++) row[j] = 0.0f;
      }
    }
  }
}

size_t caps_sgemm_scratch_count(int M, int K) {
  if (M <= 0 || K <= 0) return 0;
  size_t best = 0;
  for (int i = 0; i < ISA_COUNT; i++) {
    const caps_gemm_isa_desc *d = &g_isas[i];
    if (!d->kern) continue;
    size_t mc = (size_t)M < (size_t)d->mc ? (size_t)M : (size_t)d->mc;
    size_t kp = round_up((size_t)K, d->ku);
    size_t kc = kp < (size_t)d->kc ? kp : (size_t)d->kc;
    size_t need = round_up(mc, d->mr) * kc;
    if (need > best) best = need;
  }
  return best;
}

// All ISAs use the same k-chunk, so packing A is a fixed-size copy the compiler can inline.
enum { KU = 8 };

// Packs rows [0, mc) of A (already offset to the block origin), k-range [k0, k0 + kc) where
// kc is a multiple of KU and columns >= K are zero-filled.
static void pack_a(int MR, int mc, int kc, int k0, int K, const float *A, int lda, float *dst) {
  const int kvalid = K - k0 < kc ? K - k0 : kc;  // >= 1
  const int full = kvalid / KU * KU;
  const size_t step = (size_t)MR * KU;
  for (int ir = 0; ir < mc; ir += MR) {
    const int rows = mc - ir < MR ? mc - ir : MR;
    float *panel = dst + (size_t)ir * kc;
    for (int i = 0; i < rows; i++) {
      const float *src = A + (size_t)(ir + i) * lda + k0;
      float *p = panel + (size_t)i * KU;
      int k = 0;
      for (; k < full; k += KU, p += step) {
        float t[KU];
        memcpy(t, src + k, sizeof t);
        memcpy(p, t, sizeof t);
      }
      for (; k < kc; k += KU, p += step) {
        for (int kk = 0; kk < KU; kk++) p[kk] = (k + kk < kvalid) ? src[k + kk] : 0.0f;
      }
    }
  }
}

void caps_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *packed_b,
                       const float *bias, int relu, float *C, int ldc, int n0, int n1,
                       float *scratch) {
  if (M <= 0 || N <= 0) return;
  if (n0 < 0) n0 = 0;
  if (n1 > N) n1 = N;
  if (n0 >= n1) return;
  if (K <= 0) {
    for (int i = 0; i < M; i++)
      for (int j = n0; j < n1; j++) {
        float v = bias ? bias[j] : 0.0f;
        if (relu && !(v > 0.0f)) v = 0.0f;
        C[(size_t)i * ldc + j] = v;
      }
    return;
  }
  const caps_gemm_isa_desc *d = desc();
  const int MR = d->mr, NR = d->nr, KC = d->kc, MC = d->mc;
  const caps_gemm_kern_fn kern = d->kern;
  const int kp = (int)round_up((size_t)K, d->ku);
  const size_t np = round_up((size_t)N, NR);
  for (int pc = 0; pc < kp; pc += KC) {
    const int kc = kp - pc < KC ? kp - pc : KC;
    const int first = pc == 0, last = pc + kc >= kp;
    for (int ic = 0; ic < M; ic += MC) {
      const int mc = M - ic < MC ? M - ic : MC;
      pack_a(MR, mc, kc, pc, K, A + (size_t)ic * lda, lda, scratch);
      for (int jr = n0; jr < n1; jr += NR) {
        const int nr = n1 - jr < NR ? n1 - jr : NR;
        const float *bp = packed_b + (size_t)pc * np + (size_t)jr * kc;
        // The B panel used next (next columns, else the next K-block) is prefetched while this
        // one is in use, spread evenly over the row blocks, so B streams in from L3 / memory
        // in the background instead of stalling the first row block.
        const float *next = jr + NR < n1 ? bp + (size_t)kc * NR
                            : last       ? 0
                                         : packed_b + (size_t)(pc + kc) * np +
                                               (size_t)n0 * (kp - pc - kc < KC ? kp - pc - kc : KC);
        const int nir = (mc + MR - 1) / MR, lines = kc * NR / 16, nch = kc / KU;
        const int per_call = (lines + nir - 1) / nir, pfq = next ? (per_call + nch - 1) / nch : 0;
        for (int ir = 0, t = 0; ir < mc; ir += MR, t++) {
          const int mr = mc - ir < MR ? mc - ir : MR;
          kern(mr, nr, nch, scratch + (size_t)ir * kc, bp, C + (size_t)(ic + ir) * ldc + jr, ldc,
               !first, (first && bias) ? bias + jr : 0, last && relu,
               next ? next + (size_t)t * per_call * 16 : 0, pfq);
        }
      }
    }
  }
}
