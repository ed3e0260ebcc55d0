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
