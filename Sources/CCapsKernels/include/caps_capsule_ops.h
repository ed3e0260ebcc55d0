#ifndef CAPS_CAPSULE_OPS_H
#define CAPS_CAPSULE_OPS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// im2col of one NCHW image: row (oh, ow), column (c, kh, kw), matching an OIHW weight's rows.
void caps_im2col_nchw(const float *x, int channels, int height, int width, int kernel, int stride,
                      float *out);

/// im2col of one NHWC image: row (oh, ow), column (kh, kw, c).
void caps_im2col_nhwc(const float *x, int height, int width, int channels, int kernel, int stride,
                      float *out);

/// Primary capsules of one image from the NHWC primary-convolution output x[grid*grid][dim*types]
/// (channel = d * types + t, the reference's view(N, dim, types*grid*grid).permute(0, 2, 1)):
/// u[i = t*grid*grid + h*grid + w][d], squashed over d.
void caps_primary_capsules(const float *x, int grid, int types, int dim, float epsilon, float *u);

/// Squashes `count` vectors of `dim` components in place:
/// v = (s2 / (1 + s2)) * (s / sqrt(s2 + epsilon)).
void caps_squash(float *vectors, int count, int dim, float epsilon);

/// Prediction vectors of one image: u_hat[i][j][m] = sum_d u[i][d] * w[i][j][d][m].
void caps_predictions(const float *u, const float *w, int inputs, int outputs, int dim_in,
                      int dim_out, float *u_hat);

/// Dynamic routing of one image over u_hat[inputs][outputs][dim].
/// `logits` and `couplings` hold inputs*outputs floats, `v` outputs*dim (the result).
/// softmax_over_inputs != 0 normalises couplings over the input capsules (the reference), else
/// over the output capsules (the paper). If `history` is not NULL, the couplings of iteration r are
/// copied to history + r * inputs * outputs.
void caps_route(const float *u_hat, int inputs, int outputs, int dim, int iterations,
                int softmax_over_inputs, float epsilon, float *logits, float *couplings, float *v,
                float *history);

/// Prediction vectors of `images` images at once, output-major: image b's u_hat[j][i][m] =
/// sum_d u[b][i][d] * w[i][j][d][m] at u_hat + b * inputs * outputs * dim_out, with u[b] at
/// u + b * inputs * dim_in. Only input capsules [i0, i1) are computed (threads split the inputs).
/// Each weight block is read once for up to 4 images.
void caps_predictions_output_major(const float *u, const float *w, int images, int inputs,
                                   int outputs, int dim_in, int dim_out, int i0, int i1,
                                   float *u_hat);

/// Dynamic routing with the softmax over the input capsules (the reference's), of one image, over
/// output-major u_hat[outputs][inputs][dim], for output capsules [j0, j1) only (with this softmax
/// the output capsules are independent, so threads split them). `logits` holds outputs * inputs
/// floats ([j][i]), `v` outputs * dim (the result). Iteration r > 0 reads u_hat once (logit update
/// and an online softmax-weighted sum fused). If `history` is not NULL, the couplings of iteration
/// r are written to history + r * inputs * outputs in [i][j] order.
void caps_route_over_inputs(const float *u_hat, int inputs, int outputs, int dim, int iterations,
                            float epsilon, int j0, int j1, float *logits, float *v, float *history);

/// Lengths of `count` vectors of `dim` components.
void caps_lengths(const float *v, int count, int dim, float *lengths);

/// Index of the largest of `count` values (the first on ties).
int caps_argmax(const float *values, int count);

/// out = x / 255 then (out - mean) / std, element by element, as PyTorch's ToTensor + Normalize.
void caps_normalize_pixels(const float *pixels, size_t count, float mean, float std, float *out);

/// In-place logistic sigmoid 1 / (1 + exp(-x)).
void caps_sigmoid(float *values, size_t count);

#ifdef __cplusplus
}
#endif

#endif
