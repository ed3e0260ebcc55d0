#ifndef CAPS_WINOGRAD_H
#define CAPS_WINOGRAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Winograd F(2x2, 5x5) for a convolution of stride 2 without padding (the primary-capsule
/// convolution, 9 x 9 stride 2 in the reference).
///
/// A stride-2 convolution is the sum of four stride-1 convolutions, one per polyphase component
/// (p, q) of the input (rows 2t + p, columns 2t + q) with the kernel's taps (2a + p, 2b + q): for a
/// kernel of 7 to 10 taps each component kernel has at most 5 x 5 taps (zero-padded to 5 x 5).
/// Each component is then computed by Winograd's minimal filtering F(2x2, 5x5) on the points
/// 0, 1, -1, 2, -2, infinity: an output tile of 2 x 2 from an input tile of 6 x 6, with 36
/// element-wise products instead of 100. Summed over the channels and the four components (the
/// transforms are linear), the products are 36 GEMMs of (tiles x 4*channels) by
/// (4*channels x outputs), which `caps_sgemm_packed` runs: 36 x 4 = 144 multiply-adds per 2 x 2
/// outputs and channel against 4 x 81 = 324 for a 9 x 9 kernel, 2.25 times fewer.
///
/// The matrices are derived and checked by Tools/dev/winograd_matrices.py: B^T and A^T have small
/// integer entries (exact in float), G (with 1/6, 1/12, 1/24) is applied to the weights in double
/// when the network is created. The error is of the order of the direct GEMM's (measured on the
/// fixtures: conv2 1.2e-6 of the largest value against 4.6e-7 direct; PyTorch parity holds at
/// every stage).

/// Element-wise products per tile (6 x 6): the number of GEMMs.
#define CAPS_WINOGRAD_POSITIONS 36
/// Polyphase components of a stride-2 convolution: the K of each GEMM is 4 * input channels.
#define CAPS_WINOGRAD_PHASES 4

/// 1 if a convolution with this square kernel and stride can run on these transforms (stride 2,
/// kernel 7...10), else 0. Smaller kernels gain nothing from a 5 x 5 component kernel.
int caps_winograd_supported(int kernel, int stride);

/// Output tiles per side for an output grid of `grid` x `grid`: ceil(grid / 2).
int caps_winograd_tiles(int grid);

/// Floats from one of the 36 matrices of `rows` x `width` to the next, in the transformed inputs
/// and the GEMM products: rows * width rounded up to 16, plus 16. The padding keeps the 36 planes
/// off a 4 KiB stride (rows x 1024 floats would be one), where every plane's row would fall in the
/// same L1 set and the transforms, which touch all 36 at once, would miss on every access (the
/// output transform ran 5x slower per image for 4 images than for 1).
size_t caps_winograd_plane(int rows, int width);

/// Transforms an OIHW weight w[outputs][inputs][kernel][kernel] into the 36 GEMM right-hand
/// sides u[36][4 * inputs][outputs] (row-major; row phase * inputs + input channel, phase =
/// 2 * p + q). Returns 0, or -1 (nothing written) if the kernel is not supported.
int caps_winograd_transform_weights(const float *w, int outputs, int inputs, int kernel, float *u);

/// Transforms `images` NHWC inputs x[images][height][width][channels] (each the input of a
/// stride-2 convolution of `kernel` taps, output grid `grid`, with height, width >= (grid - 1) * 2
/// + kernel) into the 36 GEMM left-hand sides, rows x (4 * channels) each, `plane` floats apart
/// (caps_winograd_plane(rows, 4 * channels)), rows = images * tiles * tiles in the order (image,
/// tile row, tile column). Input positions past the
/// image (when grid is odd) read as 0. Returns 0, or -1 (nothing written) for an unsupported
/// kernel or an input too small for the grid.
int caps_winograd_transform_input(const float *x, int images, int height, int width, int channels,
                                  int kernel, int grid, float *v, size_t plane);

/// Transforms the 36 GEMM products (rows x outputs each, `plane` floats apart:
/// caps_winograd_plane(rows, outputs)) back into `images` NHWC outputs
/// y[images][grid][grid][outputs] (+ bias[outputs] if bias != NULL), output channels [n0, n1)
/// only (threads split the channels).
void caps_winograd_transform_output(const float *m, size_t plane, int images, int grid, int outputs,
                                    const float *bias, int n0, int n1, float *y);

#ifdef __cplusplus
}
#endif

#endif
