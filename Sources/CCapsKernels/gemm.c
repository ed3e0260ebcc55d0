// Single-precision GEMM with pre-packed B: API, kernel configs, packing and the blocked driver.
// The micro-kernels live in gemm_avx512.c (12 x 32), gemm_avx2.c (6 x 16) and gemm_portable.c
// (6 x 16, generic vectors); the x86 ones use per-function target attributes, so the target needs
// no special compiler flags. Tile sizes are in gemm_config.h. The kernel is chosen when B is
// packed (the best one this CPU supports by default, or one named explicitly) and recorded in the
// packed B's header; caps_sgemm_packed runs the kernel the header names and refuses a packed B
// whose header does not match (wrong K or N, not packed by caps_sgemm_pack_b*, or a kernel this
// CPU cannot run). There is no mutable global kernel choice.
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
// Layouts (MR, NR, KC, MC per kernel from the table below; KU is common):
//   KU   k-chunk: K is padded to a multiple of KU (zeros in both packed operands).
//   B    a 64-byte header (caps_gemm_packed_header: magic, kernel, K, N), then K-blocks of KC rows
//   (the last one shorter), each split into panels of NR columns:
//        block starting at row pc begins at data + pc * Np (Np = N rounded up to NR); in it,
//        the panel of columns [j, j + NR) begins at j * kc and holds kc rows of NR contiguous
//        floats (columns >= N and rows >= K zero-filled). So the driver, which walks K-blocks
//        then panels, reads B strictly sequentially.
//   A    per (KC x MC) block, micro-panels of MR rows; inside a micro-panel, chunks of KU k's:
//        [chunk][row 0..MR-1][KU floats]. This is a plain copy of row segments (no transpose),
//        and the kernel reads a broadcast of A(i, k) at a compile-time offset i*KU + kk.

#include "caps_gemm.h"
#include "gemm_config.h"

#include <stdint.h>
#include <string.h>

typedef struct {
  const char *name;
  int mr, nr, kc, mc;  // micro-tile rows / columns, K-block, max row block
  caps_gemm_kern_fn kern;
} caps_gemm_isa_desc;

enum { KU = CAPS_GEMM_KU };

// ---------------------------------------------------------------------------------------------
// Kernel configs: each micro-kernel with its tile and blocking, indexed by caps_sgemm_kernel.

static const caps_gemm_isa_desc g_isas[CAPS_SGEMM_KERNEL_COUNT] = {
    {"portable", CAPS_GEMM_PORTABLE_MR, CAPS_GEMM_PORTABLE_NR, CAPS_GEMM_PORTABLE_KC,
     CAPS_GEMM_PORTABLE_MC, caps_gemm_kern_portable_6x16},
#if CAPS_GEMM_X86
    {"avx2", CAPS_GEMM_AVX2_MR, CAPS_GEMM_AVX2_NR, CAPS_GEMM_AVX2_KC, CAPS_GEMM_AVX2_MC,
     caps_gemm_kern_avx2_6x16},
    {"avx512", CAPS_GEMM_AVX512_MR, CAPS_GEMM_AVX512_NR, CAPS_GEMM_AVX512_KC, CAPS_GEMM_AVX512_MC,
     caps_gemm_kern_avx512_12x32},
#else
    {"avx2", CAPS_GEMM_AVX2_MR, CAPS_GEMM_AVX2_NR, 0, 0, 0},
    {"avx512", CAPS_GEMM_AVX512_MR, CAPS_GEMM_AVX512_NR, 0, 0, 0},
#endif
};

// The column alignment callers split N by: a multiple of every kernel's NR.
enum { N_ALIGN = 32 };
_Static_assert(N_ALIGN % CAPS_GEMM_PORTABLE_NR == 0 && N_ALIGN % CAPS_GEMM_AVX2_NR == 0 &&
                   N_ALIGN % CAPS_GEMM_AVX512_NR == 0,
               "N_ALIGN must be a multiple of every kernel's NR");

int caps_sgemm_kernel_supported(int kernel) {
  if (kernel == CAPS_SGEMM_PORTABLE) return 1;
#if CAPS_GEMM_X86
  __builtin_cpu_init();
  if (kernel == CAPS_SGEMM_AVX2)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (kernel == CAPS_SGEMM_AVX512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma");
#endif
  return 0;
}

int caps_sgemm_best_kernel(void) {
  // Pure function of the CPU; computed on every call (cheap: callers ask once per packing).
  return caps_sgemm_kernel_supported(CAPS_SGEMM_AVX512) ? CAPS_SGEMM_AVX512
         : caps_sgemm_kernel_supported(CAPS_SGEMM_AVX2) ? CAPS_SGEMM_AVX2
                                                        : CAPS_SGEMM_PORTABLE;
}

static int valid_kernel(int kernel) { return kernel >= 0 && kernel < CAPS_SGEMM_KERNEL_COUNT; }

const char *caps_sgemm_kernel_name(int kernel) {
  return valid_kernel(kernel) ? g_isas[kernel].name : 0;
}

int caps_sgemm_kernel_mr(int kernel) { return valid_kernel(kernel) ? g_isas[kernel].mr : 0; }
int caps_sgemm_kernel_nr(int kernel) { return valid_kernel(kernel) ? g_isas[kernel].nr : 0; }

const char *caps_sgemm_isa(void) { return g_isas[caps_sgemm_best_kernel()].name; }

int caps_sgemm_n_align(void) { return N_ALIGN; }

// ---------------------------------------------------------------------------------------------
// Packed B header: 64 bytes (16 floats), so the panels that follow stay 64-byte aligned.

enum { HEADER_FLOATS = 16 };
static const uint32_t PACKED_MAGIC = 0x42504143u;  // "CAPB"
typedef struct {
  uint32_t magic, kernel, K, N;
  uint32_t mr, nr, kc, ku;
  uint32_t reserved[8];
} caps_gemm_packed_header;
_Static_assert(sizeof(caps_gemm_packed_header) == HEADER_FLOATS * sizeof(float), "header size");

// The kernel config of a packed B for a K x N product, or NULL if the header does not match.
static const caps_gemm_isa_desc *packed_desc(const float *packed_b, int K, int N) {
  caps_gemm_packed_header h;
  memcpy(&h, packed_b, sizeof h);
  if (h.magic != PACKED_MAGIC || !valid_kernel((int)h.kernel)) return 0;
  const caps_gemm_isa_desc *d = &g_isas[h.kernel];
  if (h.K != (uint32_t)K || h.N != (uint32_t)N || h.mr != (uint32_t)d->mr ||
      h.nr != (uint32_t)d->nr || h.kc != (uint32_t)d->kc || h.ku != KU)
    return 0;
  if (!d->kern || !caps_sgemm_kernel_supported((int)h.kernel)) return 0;
  return d;
}

int caps_sgemm_packed_kernel(const float *packed_b) {
  caps_gemm_packed_header h;
  memcpy(&h, packed_b, sizeof h);
  return h.magic == PACKED_MAGIC && valid_kernel((int)h.kernel) ? (int)h.kernel : -1;
}

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

size_t caps_sgemm_packed_b_count_for(int kernel, int K, int N) {
  if (K <= 0 || N <= 0 || !valid_kernel(kernel)) return 0;
  return HEADER_FLOATS + round_up((size_t)N, g_isas[kernel].nr) * round_up((size_t)K, KU);
}

size_t caps_sgemm_packed_b_count(int K, int N) {
  return caps_sgemm_packed_b_count_for(caps_sgemm_best_kernel(), K, N);
}

int caps_sgemm_pack_b_for(int kernel, int K, int N, const float *B, int ldb, float *packed) {
  if (K <= 0 || N <= 0) return 0;
  if (!valid_kernel(kernel) || !g_isas[kernel].kern || !caps_sgemm_kernel_supported(kernel))
    return -1;
  const caps_gemm_isa_desc *d = &g_isas[kernel];
  const caps_gemm_packed_header h = {
      PACKED_MAGIC,    (uint32_t)kernel, (uint32_t)K, (uint32_t)N, (uint32_t)d->mr,
      (uint32_t)d->nr, (uint32_t)d->kc,  KU,          {0}};
  memcpy(packed, &h, sizeof h);
  packed += HEADER_FLOATS;
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
  return 0;
}

void caps_sgemm_pack_b(int K, int N, const float *B, int ldb, float *packed) {
  caps_sgemm_pack_b_for(caps_sgemm_best_kernel(), K, N, B, ldb, packed);
}

// Rows per row block: (nearly) equal blocks of at most d->mc rows, in whole micro-panels.
static int block_rows(const caps_gemm_isa_desc *d, int M) {
  const int mblocks = (M + d->mc - 1) / d->mc;
  return (int)round_up((size_t)((M + mblocks - 1) / mblocks), d->mr);
}

size_t caps_sgemm_scratch_count(int M, int K) {
  if (M <= 0 || K <= 0) return 0;
  size_t best = 0;
  for (int i = 0; i < CAPS_SGEMM_KERNEL_COUNT; i++) {  // the largest need: any kernel fits
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

void caps_gemm_fill_bias(int M, int n0, int n1, const float *bias, int relu, float *C, int ldc) {
  for (int i = 0; i < M; i++)
    for (int j = n0; j < n1; j++) {
      float v = bias ? bias[j] : 0.0f;
      if (relu && !(v > 0.0f)) v = 0.0f;
      C[(size_t)i * ldc + j] = v;
    }
}

int caps_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *packed_b,
                      const float *bias, int relu, float *C, int ldc, int n0, int n1,
                      float *scratch) {
  if (M <= 0 || N <= 0) return 0;
  if (n0 < 0) n0 = 0;
  if (n1 > N) n1 = N;
  if (n0 >= n1) return 0;
  if (K <= 0) {
    caps_gemm_fill_bias(M, n0, n1, bias, relu, C, ldc);
    return 0;
  }
  const caps_gemm_isa_desc *d = packed_desc(packed_b, K, N);
  if (!d) return -1;
  packed_b += HEADER_FLOATS;
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
        const float *next = jr + NR < n1         ? bp + (size_t)kc * NR
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
  return 0;
}
