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

#define CAPS_GEMM_KERNEL(name)                                                                    \
  __attribute__((visibility("hidden"))) void name(                                                \
      int mr, int nr, int nchunks, const float *A, const float *B, float *C, int ldc, int load_c, \
      const float *bias, int relu, const float *pf, int pfq)
CAPS_GEMM_KERNEL(caps_gemm_kern_portable_6x16);
#if CAPS_GEMM_X86
CAPS_GEMM_KERNEL(caps_gemm_kern_avx2_6x16);
CAPS_GEMM_KERNEL(caps_gemm_kern_avx512_12x32);
#endif

#endif
