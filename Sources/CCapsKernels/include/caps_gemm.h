#ifndef CAPS_GEMM_H
#define CAPS_GEMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Floats needed to hold B (K x N) packed for caps_sgemm_packed.
size_t caps_sgemm_packed_b_count(int K, int N);

/// Packs B (K x N, row-major, leading dimension ldb) into the layout caps_sgemm_packed reads.
void caps_sgemm_pack_b(int K, int N, const float *B, int ldb, float *packed);

/// Floats of per-thread scratch caps_sgemm_packed needs for A panels with these M and K.
/// (Large enough for every ISA, so it does not depend on caps_sgemm_force_isa.)
size_t caps_sgemm_scratch_count(int M, int K);

/// C[M x N] (row-major, ldc) = A[M x K] (row-major, lda) * B(packed) (+ bias[N] if bias != NULL),
/// then max(0, .) if relu != 0. Computes only columns [n0, n1) so callers can split N across
/// threads; n0 and n1 must be multiples of caps_sgemm_n_align() (or n1 == N).
/// Does not allocate; thread-safe as long as each concurrent call has its own scratch and writes
/// disjoint parts of C. Rows can be split across threads too (pass A + r0 * lda, C + r0 * ldc and
/// the row count as M): each thread then packs only its rows of A, which for M >= 72 is ~10%
/// faster than splitting N (where every thread packs all of A); prefer row splits that are
/// multiples of 12. Each row's result is bitwise independent of M, the row's position and the
/// split (same summation order), for a given ISA.
void caps_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *packed_b,
                       const float *bias, int relu, float *C, int ldc, int n0, int n1,
                       float *scratch);

/// Column alignment for splitting N across threads (the kernel's panel width: 32 for avx512,
/// 16 for avx2 and portable).
int caps_sgemm_n_align(void);

/// Name of the kernel chosen for this CPU: "avx512", "avx2" or "portable".
const char *caps_sgemm_isa(void);

/// Forces a kernel ("avx512", "avx2", "portable") for tests and benchmarks; returns 0 if
/// unsupported here (the choice is then unchanged). Must be called before any packing; packed B
/// is only valid for the ISA that packed it.
int caps_sgemm_force_isa(const char *name);

#ifdef __cplusplus
}
#endif

#endif
