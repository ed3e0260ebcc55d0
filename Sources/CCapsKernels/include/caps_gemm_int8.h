#ifndef CAPS_GEMM_INT8_H
#define CAPS_GEMM_INT8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Integer GEMM kernels: unsigned 8-bit activations A times signed weights B, summed in int32,
/// then scaled to float. Like the fp32 GEMM, the kernel is fixed when B is packed and recorded
/// in the packed B.
typedef enum {
  CAPS_I8GEMM_PORTABLE = 0,  ///< 4 x 16, plain C (int32 accumulators)
  CAPS_I8GEMM_AVX2 = 1,      ///< 4 x 16, AVX2 vpmaddubsw + vpmaddwd
  CAPS_I8GEMM_KERNEL_COUNT = 2
} caps_i8gemm_kernel;

/// Largest magnitude of a weight: 7 bits. vpmaddubsw adds two u8 x s8 products into a saturating
/// int16; with |w| <= 63 the pair is at most 2 * 255 * 63 = 32130 < 32767, so nothing saturates
/// and every kernel computes the exact integer sum.
#define CAPS_I8GEMM_WEIGHT_MAX 63

int caps_i8gemm_kernel_supported(int kernel);
/// avx2 where the CPU has it, else portable.
int caps_i8gemm_best_kernel(void);
/// "portable" or "avx2"; NULL for an unknown id.
const char *caps_i8gemm_kernel_name(int kernel);

/// Bytes needed to hold B (K x N int8) packed for `kernel` (a 64-byte header included).
size_t caps_i8gemm_packed_b_bytes_for(int kernel, int K, int N);

/// Packs B (K x N, row-major, leading dimension ldb) for `kernel`. Returns 0; -1 (nothing
/// written) if this CPU cannot run `kernel`; -2 if a weight is outside +-CAPS_I8GEMM_WEIGHT_MAX.
int caps_i8gemm_pack_b_for(int kernel, int K, int N, const int8_t *B, int ldb, void *packed);

/// The kernel a packed B was packed for, or -1.
int caps_i8gemm_packed_kernel(const void *packed_b);

/// Bytes of per-thread scratch caps_i8gemm_packed needs for A panels with these M and K.
size_t caps_i8gemm_scratch_bytes(int M, int K);

/// C[M x N] (row-major, ldc) = row_scale[i] * col_scale[j] * sum_k A[i][k] * B[k][j]
/// (+ bias[j] if bias != NULL), then max(0, .) if relu != 0. row_scale may be NULL (1 for every
/// row); col_scale must hold N values. Only columns [n0, n1) are computed (multiples of
/// caps_sgemm_n_align(), or n1 == N), rows can be split too (as for caps_sgemm_packed).
/// The integer sums are exact; the result is computed in float from them.
/// Returns 0, or -1 without touching C if packed_b does not match K and N or this CPU.
/// Does not allocate; thread-safe with one scratch per concurrent call.
int caps_i8gemm_packed(int M, int N, int K, const uint8_t *A, int lda, const void *packed_b,
                       const float *row_scale, const float *col_scale, const float *bias, int relu,
                       float *C, int ldc, int n0, int n1, void *scratch);

/// Symmetric per-column quantization of a K x N float matrix (row-major, ldb) to 7 bits:
/// scale[j] = max_k |B[k][j]| / CAPS_I8GEMM_WEIGHT_MAX (1 for an all-zero column),
/// q[k][j] = round(B[k][j] / scale[j]) (row-major, N columns).
void caps_quantize_columns_s7(int K, int N, const float *B, int ldb, int8_t *q, float *scale);

/// Largest of `count` values, or 0 if all are <= 0 (the scale of a per-tensor activation).
float caps_max_or_zero(const float *x, size_t count);

/// out[k] = clamp(round(x[k] * a + b), 0, 255) (rounding half away from zero).
void caps_quantize_u8(const float *x, size_t count, float a, float b, uint8_t *out);

/// im2col of one NCHW / NHWC byte image, as caps_im2col_nchw / caps_im2col_nhwc.
void caps_im2col_nchw_u8(const uint8_t *x, int channels, int height, int width, int kernel,
                         int stride, uint8_t *out);
void caps_im2col_nhwc_u8(const uint8_t *x, int height, int width, int channels, int kernel,
                         int stride, uint8_t *out);

#ifdef __cplusplus
}
#endif

#endif
