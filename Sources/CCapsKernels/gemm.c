// Single-precision GEMM with pre-packed B: API, run-time ISA dispatch, packing and the blocked
// driver. The micro-kernels live in gemm_avx512.c (12 x 32), gemm_avx2.c (6 x 16) and
// gemm_portable.c (6 x 16, generic vectors); the x86 ones use per-function target attributes, so
// the target needs no special compiler flags, and are picked at run time by CPUID.
//
// Loop nest of caps_sgemm_packed (per call, i.e. per thread's column range [n0, n1)):
//   for each K-block pc (KC = 256 rows of B):
//     for each row block ic (<= MC rows of A, balanced):
//       pack A[ic.., pc..] into scratch                      (stays in L2)
//       for each B panel jr (NR columns, kc x NR floats):      (stays in L1 across row blocks)
//         for each micro-panel ir (MR rows): kernel -> C tile (accumulates over K-blocks; bias
//                                            on the first K-block, ReLU on the last)
//   While a panel is in use, the next B panel and the next A block's rows are prefetched,
//   spread over the kernel calls, so streaming weights (conv2: 21 MB) and im2col rows from
//   memory overlaps the arithmetic.
//
// Layouts (MR, NR, KC, MC per ISA from the table below; KU is common):
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

#if defined(__x86_64__) || defined(__i386__)
#define CAPS_GEMM_X86 1
#else
#define CAPS_GEMM_X86 0
#endif

// Micro-kernel contract: C[mr x nr] (ldc) = (load_c ? C : 0) + A_panel * B_panel (+ bias[nr]
// if bias), then max(0, .) if relu; A_panel / B_panel are packed as described above and hold
// nchunks * KU values of k. While running it prefetches pfq cache lines of pf per k-chunk.
typedef void (*caps_gemm_kern_fn)(int mr, int nr, int nchunks, const float *A, const float *B,
                                  float *C, int ldc, int load_c, const float *bias, int relu,
                                  const float *pf, int pfq);

#define CAPS_GEMM_KERNEL(name)                                                                 \
  __attribute__((visibility("hidden"))) void name(int mr, int nr, int nchunks, const float *A, \
                                                  const float *B, float *C, int ldc,          \
                                                  int load_c, const float *bias, int relu,    \
                                                  const float *pf, int pfq)
CAPS_GEMM_KERNEL(caps_gemm_kern_portable);
#if CAPS_GEMM_X86
CAPS_GEMM_KERNEL(caps_gemm_kern_avx2);
CAPS_GEMM_KERNEL(caps_gemm_kern_avx512);
#endif

typedef struct {
  const char *name;
  int mr, nr, kc, mc;  // micro-tile rows / columns, K-block, max row block
  caps_gemm_kern_fn kern;
} caps_gemm_isa_desc;

// All ISAs use the same k-chunk, so packing A is a fixed-size copy the compiler can inline.
enum { KU = 8 };

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
    {"portable", 6, 16, 256, 192, caps_gemm_kern_portable},
#if CAPS_GEMM_X86
    {"avx2", 6, 16, AVX2_KC, AVX2_MC, caps_gemm_kern_avx2},
    {"avx512", 12, 32, AVX512_KC, AVX512_MC, caps_gemm_kern_avx512},
#else
    {"avx2", 0, 0, 0, 0, 0},
    {"avx512", 0, 0, 0, 0, 0},
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
  return round_up((size_t)N, d->nr) * round_up((size_t)K, KU);
}

void caps_sgemm_pack_b(int K, int N, const float *B, int ldb, float *packed) {
  const caps_gemm_isa_desc *d = desc();
  if (K <= 0 || N <= 0) return;
  const int nr = d->nr;
  const size_t kp = round_up((size_t)K, KU), np = round_up((size_t)N, nr);
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

// Rows per row block: (nearly) equal blocks of at most d->mc rows, in whole micro-panels.
static int block_rows(const caps_gemm_isa_desc *d, int M) {
  const int mblocks = (M + d->mc - 1) / d->mc;
  return (int)round_up((size_t)((M + mblocks - 1) / mblocks), d->mr);
}

size_t caps_sgemm_scratch_count(int M, int K) {
  if (M <= 0 || K <= 0) return 0;
  size_t best = 0;
  for (int i = 0; i < ISA_COUNT; i++) {  // the largest need, so force_isa cannot invalidate it
    const caps_gemm_isa_desc *d = &g_isas[i];
    if (!d->kern) continue;
    const size_t kp = round_up((size_t)K, KU);
    const size_t kc = kp < (size_t)d->kc ? kp : (size_t)d->kc;
    const size_t need = (size_t)block_rows(d, M) * kc;
    if (need > best) best = need;
  }
  return best;
}

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
  const int MR = d->mr, NR = d->nr, KC = d->kc;
  const caps_gemm_kern_fn kern = d->kern;
  const int kp = (int)round_up((size_t)K, KU);
  const size_t np = round_up((size_t)N, NR);
  const int MC = block_rows(d, M);
  const int npanels = (n1 - n0 + NR - 1) / NR;
  for (int pc = 0; pc < kp; pc += KC) {
    const int kc = kp - pc < KC ? kp - pc : KC, nch = kc / KU;
    const int first = pc == 0, last = pc + kc >= kp;
    for (int ic = 0; ic < M; ic += MC) {
      const int mc = M - ic < MC ? M - ic : MC;
      pack_a(MR, mc, kc, pc, K, A + (size_t)ic * lda, lda, scratch);
      // The block after this one: the next rows, else the next K-block (if any).
      const int more_rows = ic + MC < M;
      const int nic = more_rows ? ic + MC : 0, npc = more_rows ? pc : pc + kc;
      const int nkc = kp - npc < KC ? kp - npc : KC;
      const int nmc = M - nic < MC ? M - nic : MC, nir = (mc + MR - 1) / MR;
      // The A rows packed next are prefetched, a share before each kernel call, so that
      // packing reads from cache instead of waiting on memory row segment by row segment.
      const int nkv = npc < K ? (K - npc < KC ? K - npc : KC) : 0;  // their valid columns
      const float *na = A + (size_t)nic * lda + npc;
      const long calls = (long)npanels * nir;
      for (int jr = n0, p = 0; jr < n1; jr += NR, p++) {
        const int nr = n1 - jr < NR ? n1 - jr : NR;
        const float *bp = packed_b + (size_t)pc * np + (size_t)jr * kc;
        // The B panel used next (next columns, else the next K-block) is prefetched while this
        // one is in use, spread evenly over the row blocks, so B streams in from L3 / memory
        // in the background instead of stalling the first row block.
        const float *next = jr + NR < n1      ? bp + (size_t)kc * NR
                            : more_rows || !last ? packed_b + (size_t)npc * np + (size_t)n0 * nkc
                                                 : 0;
        const int lines = kc * NR / 16;
        const int per_call = (lines + nir - 1) / nir, pfq = next ? (per_call + nch - 1) / nch : 0;
        for (int ir = 0, t = 0; ir < mc; ir += MR, t++) {
          const int mr = mc - ir < MR ? mc - ir : MR;
          if (nkv > 0) {
            const long c = (long)p * nir + t;
            for (long i = nmc * c / calls, e = nmc * (c + 1) / calls; i < e; i++)
              for (int k = 0; k < nkv; k += 16) __builtin_prefetch(na + i * lda + k, 0, 3);
          }
          kern(mr, nr, nch, scratch + (size_t)ir * kc, bp, C + (size_t)(ic + ir) * ldc + jr, ldc,
               !first, (first && bias) ? bias + jr : 0, last && relu,
               next ? next + (size_t)t * per_call * 16 : 0, pfq);
        }
      }
    }
  }
}
