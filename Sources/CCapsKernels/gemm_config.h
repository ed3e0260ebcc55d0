// Internal to CCapsKernels: the GEMM micro-kernels and their tile sizes, in one place.
// Each kernel's MR x NR register tile, K-block and row block live in its config (gemm.c's table,
// built from these constants), so the packing, the driver and the micro-kernel cannot disagree;
// the kernel files include this header instead of declaring their own sizes.
#ifndef CAPS_GEMM_CONFIG_H
#define CAPS_GEMM_CONFIG_H

#if defined(__x86_64__) || defined(__i386__)
#define CAPS_GEMM_X86 1
#else
#define CAPS_GEMM_X86 0
#endif

// k-chunk common to all kernels: K is padded to a multiple of it (zeros in both packed operands).
#define CAPS_GEMM_KU 8

// Register tiles (rows of A x columns of B per micro-kernel call).
#define CAPS_GEMM_PORTABLE_MR 6
#define CAPS_GEMM_PORTABLE_NR 16
#define CAPS_GEMM_AVX2_MR 6  // 12 ymm accumulators + 2 for B + 1 broadcast of A: 15 of 16
#define CAPS_GEMM_AVX2_NR 16
#define CAPS_GEMM_AVX512_MR 12  // 24 zmm accumulators + 2 for B + 1 broadcast of A: 27 of 32
#define CAPS_GEMM_AVX512_NR 32

// Cache blocking: KC rows of packed B per K-block (a kc x NR panel of B stays in L1 while the
// row block's micro-panels go by), at most MC rows of A per row block (the packed MC x KC block
// of A stays in L2). Overridable with -D for tuning runs (Tools/dev/kernels).
#ifndef CAPS_GEMM_AVX2_KC
#define CAPS_GEMM_AVX2_KC 256
#endif
#ifndef CAPS_GEMM_AVX2_MC
#define CAPS_GEMM_AVX2_MC 192
#endif
#ifndef CAPS_GEMM_AVX512_KC
#define CAPS_GEMM_AVX512_KC 256
#endif
#ifndef CAPS_GEMM_AVX512_MC
#define CAPS_GEMM_AVX512_MC 288
#endif
#define CAPS_GEMM_PORTABLE_KC 256
#define CAPS_GEMM_PORTABLE_MC 192

// Micro-kernel contract: C[mr x nr] (ldc) = (load_c ? C : 0) + A_panel * B_panel (+ bias[nr]
// if bias), then max(0, .) if relu; A_panel / B_panel are packed as described in gemm.c and hold
// nchunks * KU values of k. While running it prefetches pfq cache lines of pf per k-chunk.
typedef void (*caps_gemm_kern_fn)(int mr, int nr, int nchunks, const float *A, const float *B,
                                  float *C, int ldc, int load_c, const float *bias, int relu,
                                  const float *pf, int pfq);

// C[0..M)[n0..n1) = bias (or 0), then ReLU: the result of a GEMM with K = 0 (both drivers).
__attribute__((visibility("hidden"))) void caps_gemm_fill_bias(int M, int n0, int n1,
                                                               const float *bias, int relu,
                                                               float *C, int ldc);

#define CAPS_GEMM_KERNEL(name)                                                                    \
  __attribute__((visibility("hidden"))) void name(                                                \
      int mr, int nr, int nchunks, const float *A, const float *B, float *C, int ldc, int load_c, \
      const float *bias, int relu, const float *pf, int pfq)
CAPS_GEMM_KERNEL(caps_gemm_kern_portable_6x16);
#if CAPS_GEMM_X86
CAPS_GEMM_KERNEL(caps_gemm_kern_avx2_6x16);
CAPS_GEMM_KERNEL(caps_gemm_kern_avx512_12x32);
#endif

// ---------------------------------------------------------------------------------------------
// Integer GEMM (u8 activations x s7 weights, int32 sums): gemm_int8.c and its kernels.
// k is taken in quads (4 consecutive k's: one 32-bit broadcast of A, vpmaddubsw + vpmaddwd
// sum 4 products per int32 lane); K is padded to a multiple of 4 with zeros.
#define CAPS_I8GEMM_KU 4
#define CAPS_I8GEMM_PORTABLE_MR 4
#define CAPS_I8GEMM_PORTABLE_NR 16
// 8 ymm accumulators + 2 for B + 1 broadcast of A + 1 of ones + 2 products in flight: 14 of 16
// (6 rows would need 12 accumulators and leave no register for the products).
#define CAPS_I8GEMM_AVX2_MR 4
#define CAPS_I8GEMM_AVX2_NR 16
// KC in k (= bytes per row of a panel): a 1024 x 16 B panel is 16 KiB, as the fp32 kernel's.
#ifndef CAPS_I8GEMM_KC
#define CAPS_I8GEMM_KC 1024
#endif
#ifndef CAPS_I8GEMM_MC
#define CAPS_I8GEMM_MC 192
#endif

// Int8 micro-kernel contract: C[mr x nr] (ldc) = (load_c ? C : 0) +
// (row_scale ? row_scale[i] : 1) * col_scale[j] * (A_panel . B_panel)[i][j] (+ bias[j] if bias),
// then max(0, .) if relu. A_panel: nquads x [MR rows][4 bytes] (u8); B_panel: nquads x [NR
// columns][4 bytes] (s8). Prefetches pfq cache lines of pf per 4 quads.
typedef void (*caps_i8gemm_kern_fn)(int mr, int nr, int nquads, const unsigned char *A,
                                    const signed char *B, float *C, int ldc, int load_c,
                                    const float *row_scale, const float *col_scale,
                                    const float *bias, int relu, const void *pf, int pfq);
#define CAPS_I8GEMM_KERNEL(name)                                                                   \
  __attribute__((visibility("hidden"))) void name(                                                 \
      int mr, int nr, int nquads, const unsigned char *A, const signed char *B, float *C, int ldc, \
      int load_c, const float *row_scale, const float *col_scale, const float *bias, int relu,     \
      const void *pf, int pfq)
CAPS_I8GEMM_KERNEL(caps_i8gemm_kern_portable_4x16);
#if CAPS_GEMM_X86
CAPS_I8GEMM_KERNEL(caps_i8gemm_kern_avx2_4x16);
#endif

#endif
