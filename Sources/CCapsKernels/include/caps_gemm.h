#ifndef CAPS_GEMM_H
#define CAPS_GEMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// GEMM kernels: a micro-kernel with its register tile and cache blocking. The kernel is fixed
/// when B is packed and recorded in the packed B; caps_sgemm_packed runs that kernel.
typedef enum {
  CAPS_SGEMM_PORTABLE = 0,  ///< 6 x 16, generic vectors (NEON / SSE / scalar)
  CAPS_SGEMM_AVX2 = 1,      ///< 6 x 16, AVX2 + FMA
  CAPS_SGEMM_AVX512 = 2,    ///< 12 x 32, AVX-512F
  CAPS_SGEMM_KERNEL_COUNT = 3
} caps_sgemm_kernel;

/// 1 if this CPU can run `kernel`, else 0.
int caps_sgemm_kernel_supported(int kernel);

/// The fastest kernel this CPU supports (avx512, else avx2, else portable).
int caps_sgemm_best_kernel(void);

/// "portable", "avx2" or "avx512"; NULL for an unknown id.
const char *caps_sgemm_kernel_name(int kernel);

/// The kernel's register tile: rows of A (MR) and columns of B (NR) per micro-kernel call.
int caps_sgemm_kernel_mr(int kernel);
int caps_sgemm_kernel_nr(int kernel);

/// Floats needed to hold B (K x N) packed for `kernel` (a 16-float header included).
size_t caps_sgemm_packed_b_count_for(int kernel, int K, int N);

/// Packs B (K x N, row-major, leading dimension ldb) for `kernel`, recording the kernel, K and N
/// in the packed header. Returns 0, or -1 (nothing written) if this CPU cannot run `kernel`.
int caps_sgemm_pack_b_for(int kernel, int K, int N, const float *B, int ldb, float *packed);

/// The kernel a packed B was packed for, or -1 if `packed_b` does not start with a packed header.
int caps_sgemm_packed_kernel(const float *packed_b);

/// caps_sgemm_packed_b_count_for / caps_sgemm_pack_b_for with caps_sgemm_best_kernel().
size_t caps_sgemm_packed_b_count(int K, int N);
void caps_sgemm_pack_b(int K, int N, const float *B, int ldb, float *packed);

/// Floats of per-thread scratch caps_sgemm_packed needs for A panels with these M and K
/// (large enough for every kernel).
size_t caps_sgemm_scratch_count(int M, int K);

/// C[M x N] (row-major, ldc) = A[M x K] (row-major, lda) * B(packed) (+ bias[N] if bias != NULL),
/// then max(0, .) if relu != 0, with the kernel recorded in packed_b. Computes only columns
/// [n0, n1) so callers can split N across threads; n0 and n1 must be multiples of
/// caps_sgemm_n_align() (or n1 == N).
/// Returns 0, or -1 without touching C if packed_b was not packed for this K and N (or by
/// caps_sgemm_pack_b*), or was packed for a kernel this CPU cannot run.
/// Does not allocate; thread-safe as long as each concurrent call has its own scratch and writes
/// disjoint parts of C. Rows can be split across threads too (pass A + r0 * lda, C + r0 * ldc and
/// the row count as M): each thread then packs only its rows of A, which for M >= 72 is ~10%
/// faster than splitting N (where every thread packs all of A); prefer row splits that are
/// multiples of 12. Each row's result is bitwise independent of M, the row's position and the
/// split (same summation order), for a given kernel.
int caps_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *packed_b,
                      const float *bias, int relu, float *C, int ldc, int n0, int n1,
                      float *scratch);

/// Column alignment for splitting N across threads: 32, a multiple of every kernel's NR, so a
/// split is valid whatever kernel packed B.
int caps_sgemm_n_align(void);

/// Name of caps_sgemm_best_kernel(): "avx512", "avx2" or "portable".
const char *caps_sgemm_isa(void);

#ifdef __cplusplus
}
#endif

#endif
