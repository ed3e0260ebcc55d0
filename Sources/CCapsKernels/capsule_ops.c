// Capsule-specific kernels: layout transforms, squash, prediction vectors and dynamic routing.
// Plain C written so that clang vectorises the inner loops (contiguous innermost axes).
#include "caps_capsule_ops.h"

#include <math.h>
#include <string.h>

void caps_im2col_nchw(const float *x, int channels, int height, int width, int kernel, int stride,
                      float *out) {
  const int oh_count = (height - kernel) / stride + 1;
  const int ow_count = (width - kernel) / stride + 1;
  const int columns = channels * kernel * kernel;
  for (int oh = 0; oh < oh_count; oh++) {
    for (int ow = 0; ow < ow_count; ow++) {
      float *row = out + (size_t)(oh * ow_count + ow) * columns;
      for (int c = 0; c < channels; c++) {
        for (int kh = 0; kh < kernel; kh++) {
          const float *source = x + ((size_t)c * height + (oh * stride + kh)) * width + ow * stride;
          memcpy(row, source, sizeof(float) * (size_t)kernel);
          row += kernel;
        }
      }
    }
  }
}

void caps_im2col_nhwc(const float *x, int height, int width, int channels, int kernel, int stride,
                      float *out) {
  const int oh_count = (height - kernel) / stride + 1;
  const int ow_count = (width - kernel) / stride + 1;
  const size_t run = (size_t)kernel * channels;  // one kernel row is contiguous in NHWC
  for (int oh = 0; oh < oh_count; oh++) {
    for (int ow = 0; ow < ow_count; ow++) {
      float *row = out + (size_t)(oh * ow_count + ow) * kernel * run;
      for (int kh = 0; kh < kernel; kh++) {
        const float *source = x + ((size_t)(oh * stride + kh) * width + ow * stride) * channels;
        memcpy(row + kh * run, source, sizeof(float) * run);
      }
    }
  }
}

static inline void squash_one(float *s, int dim, float epsilon) {
  float s2 = 0;
  for (int d = 0; d < dim; d++) s2 += s[d] * s[d];
  const float gain = s2 / (1.0f + s2);
  const float root = sqrtf(s2 + epsilon);
  for (int d = 0; d < dim; d++) s[d] = gain * (s[d] / root);
}

void caps_squash(float *vectors, int count, int dim, float epsilon) {
  for (int k = 0; k < count; k++) squash_one(vectors + (size_t)k * dim, dim, epsilon);
}

void caps_primary_capsules(const float *x, int grid, int types, int dim, float epsilon, float *u) {
  const int positions = grid * grid;
  const int channels = dim * types;
  for (int t = 0; t < types; t++) {
    for (int p = 0; p < positions; p++) {
      float *capsule = u + ((size_t)t * positions + p) * dim;
      const float *source = x + (size_t)p * channels + t;
      for (int d = 0; d < dim; d++) capsule[d] = source[d * types];
      squash_one(capsule, dim, epsilon);
    }
  }
}

// One input capsule's prediction vectors for a fixed output dimension, so the accumulators stay
// in registers.
#define CAPS_PREDICTIONS_FIXED(DIM_OUT)                                                 \
  static void predictions_##DIM_OUT(const float *restrict ui, const float *restrict wi, \
                                    int outputs, int dim_in, float *restrict out) {     \
    for (int j = 0; j < outputs; j++) {                                                 \
      float acc[DIM_OUT] = {0};                                                         \
      const float *wij = wi + (size_t)j * dim_in * DIM_OUT;                             \
      for (int d = 0; d < dim_in; d++) {                                                \
        const float ud = ui[d];                                                         \
        for (int m = 0; m < DIM_OUT; m++) acc[m] += ud * wij[d * DIM_OUT + m];          \
      }                                                                                 \
      for (int m = 0; m < DIM_OUT; m++) out[(size_t)j * DIM_OUT + m] = acc[m];          \
    }                                                                                   \
  }
CAPS_PREDICTIONS_FIXED(16)
CAPS_PREDICTIONS_FIXED(8)

void caps_predictions(const float *restrict u, const float *restrict w, int inputs, int outputs,
                      int dim_in, int dim_out, float *restrict u_hat) {
  const size_t per_input = (size_t)outputs * dim_in * dim_out;
  for (int i = 0; i < inputs; i++) {
    const float *ui = u + (size_t)i * dim_in;
    const float *wi = w + (size_t)i * per_input;
    float *out = u_hat + (size_t)i * outputs * dim_out;
    if (dim_out == 16) {
      predictions_16(ui, wi, outputs, dim_in, out);
    } else if (dim_out == 8) {
      predictions_8(ui, wi, outputs, dim_in, out);
    } else {
      for (int j = 0; j < outputs; j++) {
        const float *wij = wi + (size_t)j * dim_in * dim_out;
        float *o = out + (size_t)j * dim_out;
        for (int m = 0; m < dim_out; m++) o[m] = 0;
        for (int d = 0; d < dim_in; d++) {
          const float ud = ui[d];
          for (int m = 0; m < dim_out; m++) o[m] += ud * wij[(size_t)d * dim_out + m];
        }
      }
    }
  }
}

static void softmax_over_inputs(const float *restrict logits, int inputs, int outputs,
                                float *restrict couplings) {
  // Column-wise softmax of logits[inputs][outputs], computed in row order (contiguous) with
  // per-column state; the sums are then applied as exp / sum, as the reference does.
  float maximum[outputs], sum[outputs];
  for (int j = 0; j < outputs; j++) {
    maximum[j] = -INFINITY;
    sum[j] = 0;
  }
  for (int i = 0; i < inputs; i++) {
    const float *row = logits + (size_t)i * outputs;
    for (int j = 0; j < outputs; j++) maximum[j] = row[j] > maximum[j] ? row[j] : maximum[j];
  }
  for (int i = 0; i < inputs; i++) {
    const float *row = logits + (size_t)i * outputs;
    float *out = couplings + (size_t)i * outputs;
    for (int j = 0; j < outputs; j++) {
      out[j] = expf(row[j] - maximum[j]);
      sum[j] += out[j];
    }
  }
  for (int i = 0; i < inputs; i++) {
    float *out = couplings + (size_t)i * outputs;
    for (int j = 0; j < outputs; j++) out[j] /= sum[j];
  }
}

static void softmax_over_outputs(const float *logits, int inputs, int outputs, float *couplings) {
  for (int i = 0; i < inputs; i++) {
    const float *row = logits + (size_t)i * outputs;
    float *out = couplings + (size_t)i * outputs;
    float maximum = -INFINITY;
    for (int j = 0; j < outputs; j++)
      if (row[j] > maximum) maximum = row[j];
    float sum = 0;
    for (int j = 0; j < outputs; j++) {
      out[j] = expf(row[j] - maximum);
      sum += out[j];
    }
    for (int j = 0; j < outputs; j++) out[j] /= sum;
  }
}

void caps_route(const float *restrict u_hat, int inputs, int outputs, int dim, int iterations,
                int softmax_over_inputs_flag, float epsilon, float *restrict logits,
                float *restrict couplings, float *restrict v, float *restrict history) {
  const size_t pairs = (size_t)inputs * outputs;
  memset(logits, 0, sizeof(float) * pairs);
  for (int r = 0; r < iterations; r++) {
    if (r == 0) {
      // All logits are zero: every coupling is exp(0) / count = 1 / count, exactly.
      const float uniform = 1.0f / (float)(softmax_over_inputs_flag ? inputs : outputs);
      for (size_t k = 0; k < pairs; k++) couplings[k] = uniform;
    } else if (softmax_over_inputs_flag) {
      softmax_over_inputs(logits, inputs, outputs, couplings);
    } else {
      softmax_over_outputs(logits, inputs, outputs, couplings);
    }
    if (history) memcpy(history + (size_t)r * pairs, couplings, sizeof(float) * pairs);

    // s[j] = sum_i c[i][j] * u_hat[i][j]
    memset(v, 0, sizeof(float) * (size_t)outputs * dim);
    for (int i = 0; i < inputs; i++) {
      const float *c = couplings + (size_t)i * outputs;
      const float *uh = u_hat + (size_t)i * outputs * dim;
      for (int j = 0; j < outputs; j++) {
        const float cij = c[j];
        float *s = v + (size_t)j * dim;
        const float *u = uh + (size_t)j * dim;
        for (int m = 0; m < dim; m++) s[m] += cij * u[m];
      }
    }
    caps_squash(v, outputs, dim, epsilon);
    if (r == iterations - 1) break;  // the last update would be unused

    // b[i][j] += v[j] . u_hat[i][j]
    for (int i = 0; i < inputs; i++) {
      float *b = logits + (size_t)i * outputs;
      const float *uh = u_hat + (size_t)i * outputs * dim;
      for (int j = 0; j < outputs; j++) {
        const float *u = uh + (size_t)j * dim;
        const float *vj = v + (size_t)j * dim;
        float agreement = 0;
        for (int m = 0; m < dim; m++) agreement += vj[m] * u[m];
        b[j] += agreement;
      }
    }
  }
}

void caps_lengths(const float *v, int count, int dim, float *lengths) {
  for (int k = 0; k < count; k++) {
    const float *vk = v + (size_t)k * dim;
    float sum = 0;
    for (int m = 0; m < dim; m++) sum += vk[m] * vk[m];
    lengths[k] = sqrtf(sum);
  }
}

int caps_argmax(const float *values, int count) {
  int best = 0;
  for (int k = 1; k < count; k++)
    if (values[k] > values[best]) best = k;
  return best;
}

void caps_normalize_pixels(const float *pixels, size_t count, float mean, float std, float *out) {
  for (size_t k = 0; k < count; k++) out[k] = (pixels[k] / 255.0f - mean) / std;
}

void caps_sigmoid(float *values, size_t count) {
  for (size_t k = 0; k < count; k++) values[k] = 1.0f / (1.0f + expf(-values[k]));
}

// ---------------------------------------------------------------------------------------------
// The capsule part, output-major: u_hat[j][i][m], so that the routing of output capsule j (with
// the softmax over the input capsules, the reference's) reads one contiguous stream, and output
// capsules can be split across threads. Each body is compiled twice, for AVX2+FMA and for the
// baseline, and the copy is chosen per call by CPUID (no compiler flags needed).

#if defined(__x86_64__) || defined(__i386__)
#define CAPS_X86_DISPATCH 1
#define CAPS_AVX2 __attribute__((target("avx2,fma")))
static int has_avx2_fma(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define CAPS_X86_DISPATCH 0
#endif
#define CAPS_BODY static inline __attribute__((always_inline))

// Images processed together per weight block: each W[i][j] (dim_in x dim_out floats) is read once
// for all of them, instead of once per image (the routing weights, 5.9 MB in the standard model,
// stream from L3 or memory).
enum { PRED_IMAGES = 4 };

CAPS_BODY void predictions_block16(const float *restrict u, size_t u_stride, int n, int dim_in,
                                   const float *restrict wij, float *restrict out,
                                   size_t out_stride) {
  float acc[PRED_IMAGES][16] = {{0}};
  for (int d = 0; d < dim_in; d++) {
    const float *wd = wij + (size_t)d * 16;
    for (int b = 0; b < PRED_IMAGES; b++) {
      const float ud = b < n ? u[b * u_stride + d] : 0.0f;
      for (int m = 0; m < 16; m++) acc[b][m] += ud * wd[m];
    }
  }
  for (int b = 0; b < n; b++)
    for (int m = 0; m < 16; m++) out[b * out_stride + m] = acc[b][m];
}

CAPS_BODY void predictions_om_body(const float *restrict u, const float *restrict w, int images,
                                   int inputs, int outputs, int dim_in, int dim_out, int i0, int i1,
                                   float *restrict u_hat) {
  const size_t u_stride = (size_t)inputs * dim_in;
  const size_t out_stride = (size_t)inputs * outputs * dim_out;
  for (int b0 = 0; b0 < images; b0 += PRED_IMAGES) {
    const int n = images - b0 < PRED_IMAGES ? images - b0 : PRED_IMAGES;
    for (int i = i0; i < i1; i++) {
      const float *ui = u + b0 * u_stride + (size_t)i * dim_in;
      for (int j = 0; j < outputs; j++) {
        const float *wij = w + ((size_t)i * outputs + j) * dim_in * dim_out;
        float *out = u_hat + b0 * out_stride + ((size_t)j * inputs + i) * dim_out;
        if (dim_out == 16) {
          predictions_block16(ui, u_stride, n, dim_in, wij, out, out_stride);
          continue;
        }
        for (int b = 0; b < n; b++) {
          float *o = out + b * out_stride;
          for (int m = 0; m < dim_out; m++) o[m] = 0;
          for (int d = 0; d < dim_in; d++) {
            const float ud = ui[b * u_stride + d];
            for (int m = 0; m < dim_out; m++) o[m] += ud * wij[(size_t)d * dim_out + m];
          }
        }
      }
    }
  }
}

#if CAPS_X86_DISPATCH
CAPS_AVX2 static void predictions_om_avx2(const float *u, const float *w, int images, int inputs,
                                          int outputs, int dim_in, int dim_out, int i0, int i1,
                                          float *u_hat) {
  predictions_om_body(u, w, images, inputs, outputs, dim_in, dim_out, i0, i1, u_hat);
}
#endif

void caps_predictions_output_major(const float *u, const float *w, int images, int inputs,
                                   int outputs, int dim_in, int dim_out, int i0, int i1,
                                   float *u_hat) {
#if CAPS_X86_DISPATCH
  if (has_avx2_fma()) {
    predictions_om_avx2(u, w, images, inputs, outputs, dim_in, dim_out, i0, i1, u_hat);
    return;
  }
#endif
  predictions_om_body(u, w, images, inputs, outputs, dim_in, dim_out, i0, i1, u_hat);
}

// exp(x) for x <= 0 to about 2 ulp, written so that a loop over it vectorises (no libm call):
// x = n ln2 + r, |r| <= ln2 / 2, exp(r) by its degree-7 Taylor polynomial, times 2^n through the
// exponent bits. Below -87 (where expf goes subnormal) the result is clamped at ~1.6e-38, which
// adds nothing next to the largest term (exp(0) = 1) of a softmax.
CAPS_BODY float exp_nonpositive(float x) {
  x = x > -87.0f ? x : -87.0f;
  const float n = __builtin_roundf(x * 1.44269504088896341f);
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union {
    float f;
    int i;
  } scale = {.i = ((int)n + 127) << 23};
  return p * scale.f;
}

// Dot products in a fixed pairwise order that vectorises (a float sum in source order would be
// a chain of dependent adds: the compiler may not reorder it).
typedef float caps_v8f __attribute__((vector_size(32)));
CAPS_BODY float dot16(const float *x, const float *y) {
  caps_v8f x0, x1, y0, y1;
  __builtin_memcpy(&x0, x, 32);
  __builtin_memcpy(&x1, x + 8, 32);
  __builtin_memcpy(&y0, y, 32);
  __builtin_memcpy(&y1, y + 8, 32);
  const caps_v8f p = x0 * y0 + x1 * y1;
  const float q0 = (p[0] + p[4]) + (p[2] + p[6]), q1 = (p[1] + p[5]) + (p[3] + p[7]);
  return q0 + q1;
}
CAPS_BODY float dot(const float *x, const float *y, int n) {
  float a = 0;
  for (int m = 0; m < n; m++) a += x[m] * y[m];
  return a;
}

// Routing of output capsule j over its u_hat[i][m] (contiguous). Iteration 0 couples uniformly
// (s = the mean); each later iteration updates the logits b[i] += v . u_hat[i] and, in the same
// pass, accumulates the softmax over i online, 8 inputs at a time (running maximum mx, sum l and
// weighted sum acc, rescaled when a block raises the maximum), so each iteration reads u_hat once
// instead of three times, and the exponentials are computed 8 at a time.
enum { ROUTE_BLOCK = 8 };
CAPS_BODY void route_one_body(const float *restrict uj, int inputs, int dim, int iterations,
                              float epsilon, float *restrict b, float *restrict v,
                              float *restrict history, size_t history_stride, int outputs) {
  float s[dim], acc[dim];
  for (int m = 0; m < dim; m++) s[m] = 0;
  for (int i = 0; i < inputs; i++)
    for (int m = 0; m < dim; m++) s[m] += uj[(size_t)i * dim + m];
  const float uniform = 1.0f / (float)inputs;
  for (int m = 0; m < dim; m++) v[m] = s[m] * uniform;
  squash_one(v, dim, epsilon);
  if (history)
    for (int i = 0; i < inputs; i++) history[(size_t)i * outputs] = uniform;
  for (int r = 1; r < iterations; r++) {
    float mx = -INFINITY, l = 0;
    for (int m = 0; m < dim; m++) acc[m] = 0;
    for (int i0 = 0; i0 < inputs; i0 += ROUTE_BLOCK) {
      const int n = inputs - i0 < ROUTE_BLOCK ? inputs - i0 : ROUTE_BLOCK;
      const float *u = uj + (size_t)i0 * dim;
      float logit[ROUTE_BLOCK], e[ROUTE_BLOCK];
      float bmax = -INFINITY;
      for (int k = 0; k < n; k++) {
        const float a = dim == 16 ? dot16(v, u + (size_t)k * 16) : dot(v, u + (size_t)k * dim, dim);
        logit[k] = (r == 1 ? 0.0f : b[i0 + k]) + a;
        b[i0 + k] = logit[k];
        bmax = logit[k] > bmax ? logit[k] : bmax;
      }
      if (bmax > mx) {
        const float scale = mx == -INFINITY ? 0.0f : exp_nonpositive(mx - bmax);
        l *= scale;
        for (int m = 0; m < dim; m++) acc[m] *= scale;
        mx = bmax;
      }
      for (int k = 0; k < ROUTE_BLOCK; k++) e[k] = k < n ? exp_nonpositive(logit[k] - mx) : 0.0f;
      for (int k = 0; k < n; k++) {
        l += e[k];
        for (int m = 0; m < dim; m++) acc[m] += e[k] * u[(size_t)k * dim + m];
      }
    }
    for (int m = 0; m < dim; m++) v[m] = acc[m] / l;
    squash_one(v, dim, epsilon);
    if (history) {
      float *h = history + (size_t)r * history_stride;
      for (int i = 0; i < inputs; i++) h[(size_t)i * outputs] = expf(b[i] - mx) / l;
    }
  }
}

#if CAPS_X86_DISPATCH
CAPS_AVX2 static void route_one_avx2(const float *uj, int inputs, int dim, int iterations,
                                     float epsilon, float *b, float *v, float *history,
                                     size_t history_stride, int outputs) {
  if (dim == 16)  // the constant lets every loop over m vectorise in registers
    route_one_body(uj, inputs, 16, iterations, epsilon, b, v, history, history_stride, outputs);
  else
    route_one_body(uj, inputs, dim, iterations, epsilon, b, v, history, history_stride, outputs);
}
#endif

void caps_route_over_inputs(const float *u_hat, int inputs, int outputs, int dim, int iterations,
                            float epsilon, int j0, int j1, float *logits, float *v,
                            float *history) {
#if CAPS_X86_DISPATCH
  const int avx2 = has_avx2_fma();
#endif
  const size_t pairs = (size_t)inputs * outputs;
  for (int j = j0; j < j1; j++) {
    const float *uj = u_hat + (size_t)j * inputs * dim;
    float *b = logits + (size_t)j * inputs, *vj = v + (size_t)j * dim;
    float *h = history ? history + j : 0;
#if CAPS_X86_DISPATCH
    if (avx2) {
      route_one_avx2(uj, inputs, dim, iterations, epsilon, b, vj, h, pairs, outputs);
      continue;
    }
#endif
    if (dim == 16)
      route_one_body(uj, inputs, 16, iterations, epsilon, b, vj, h, pairs, outputs);
    else
      route_one_body(uj, inputs, dim, iterations, epsilon, b, vj, h, pairs, outputs);
  }
}
