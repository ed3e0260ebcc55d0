// Winograd F(2x2, 5x5) on the polyphase components of a stride-2 convolution (caps_winograd.h).
#include "caps_winograd.h"

#include <string.h>

enum {
  TILE = 6,    // input tile side: 2 outputs + 5 taps - 1
  TAPS = 5,    // component kernel side
  BLOCK = 64,  // channels transformed together (stack buffers of 2 x 36 x 64 floats)
};

// G (6 x 5) of F(2, 5) on the points 0, 1, -1, 2, -2, infinity (Tools/dev/winograd_matrices.py).
static const double kG[TILE][TAPS] = {
    {1.0 / 4, 0, 0, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
    {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
    {0, 0, 0, 0, 1},
};

int caps_winograd_supported(int kernel, int stride) {
  return stride == 2 && kernel >= 7 && kernel <= 2 * TAPS;
}

int caps_winograd_tiles(int grid) { return grid < 1 ? 0 : (grid + 1) / 2; }

size_t caps_winograd_plane(int rows, int width) {
  const size_t count = (size_t)(rows > 0 ? rows : 0) * (size_t)(width > 0 ? width : 0);
  return (count + 15) / 16 * 16 + 16;
}

int caps_winograd_transform_weights(const float *w, int outputs, int inputs, int kernel, float *u) {
  if (!caps_winograd_supported(kernel, 2) || outputs < 1 || inputs < 1) return -1;
  const size_t depth = (size_t)CAPS_WINOGRAD_PHASES * inputs;
  // Row by row of the 36 outputs (phase, input channel), the output channels innermost: the 36
  // matrices are written contiguously, not one float per cache line.
  for (int phase = 0; phase < CAPS_WINOGRAD_PHASES; phase++) {
    const int p = phase / 2, q = phase % 2;
    for (int ci = 0; ci < inputs; ci++) {
      const size_t row = (size_t)phase * inputs + ci;
      for (int o = 0; o < outputs; o++) {
        const float *g = w + ((size_t)o * inputs + ci) * kernel * kernel;
        double taps[TAPS][TAPS] = {{0}};
        for (int a = 0; a < TAPS; a++) {
          for (int b = 0; b < TAPS; b++) {
            const int kh = 2 * a + p, kw = 2 * b + q;
            if (kh < kernel && kw < kernel) taps[a][b] = g[kh * kernel + kw];
          }
        }
        double half[TILE][TAPS];  // G * taps
        for (int i = 0; i < TILE; i++) {
          for (int b = 0; b < TAPS; b++) {
            double sum = 0;
            for (int a = 0; a < TAPS; a++) sum += kG[i][a] * taps[a][b];
            half[i][b] = sum;
          }
        }
        for (int i = 0; i < TILE; i++) {
          for (int j = 0; j < TILE; j++) {
            double sum = 0;  // (G * taps * G^T)[i][j]
            for (int b = 0; b < TAPS; b++) sum += half[i][b] * kG[j][b];
            u[((size_t)(i * TILE + j) * depth + row) * outputs + o] = (float)sum;
          }
        }
      }
    }
  }
  return 0;
}

// out[k] = (B^T d)[k] for the six vectors d[0..5] of n channels: B^T of F(2, 5), exact.
static inline void input_rows(const float *const d[TILE], float *const out[TILE], int n) {
  for (int c = 0; c < n; c++) {
    const float d0 = d[0][c], d1 = d[1][c], d2 = d[2][c], d3 = d[3][c], d4 = d[4][c], d5 = d[5][c];
    out[0][c] = 4 * d0 - 5 * d2 + d4;
    out[1][c] = -4 * d1 - 4 * d2 + d3 + d4;
    out[2][c] = 4 * d1 - 4 * d2 - d3 + d4;
    out[3][c] = -2 * d1 - d2 + 2 * d3 + d4;
    out[4][c] = 2 * d1 - d2 - 2 * d3 + d4;
    out[5][c] = 4 * d1 - 5 * d3 + d5;
  }
}

int caps_winograd_transform_input(const float *x, int images, int height, int width, int channels,
                                  int kernel, int grid, float *v, size_t plane) {
  if (!caps_winograd_supported(kernel, 2) || grid < 1 || channels < 1 || images < 1) return -1;
  if (height < (grid - 1) * 2 + kernel || width < (grid - 1) * 2 + kernel) return -1;
  const int tiles = caps_winograd_tiles(grid);
  const size_t depth = (size_t)CAPS_WINOGRAD_PHASES * channels;
  static const float zeros[BLOCK] = {0};
  float rowwise[TILE][TILE][BLOCK];  // [a][nu]: B^T applied along the tile's columns
  for (int b = 0; b < images; b++) {
    const float *image = x + (size_t)b * height * width * channels;
    for (int ty = 0; ty < tiles; ty++) {
      for (int tx = 0; tx < tiles; tx++) {
        const size_t row = ((size_t)b * tiles + ty) * tiles + tx;
        for (int phase = 0; phase < CAPS_WINOGRAD_PHASES; phase++) {
          const int p = phase / 2, q = phase % 2;
          for (int c0 = 0; c0 < channels; c0 += BLOCK) {
            const int n = channels - c0 < BLOCK ? channels - c0 : BLOCK;
            for (int a = 0; a < TILE; a++) {
              const int iy = 2 * (2 * ty + a) + p;
              const float *d[TILE];
              for (int e = 0; e < TILE; e++) {
                const int ix = 2 * (2 * tx + e) + q;
                d[e] = iy < height && ix < width ? image + ((size_t)iy * width + ix) * channels + c0
                                                 : zeros;
              }
              float *const out[TILE] = {rowwise[a][0], rowwise[a][1], rowwise[a][2],
                                        rowwise[a][3], rowwise[a][4], rowwise[a][5]};
              input_rows(d, out, n);
            }
            for (int nu = 0; nu < TILE; nu++) {
              const float *const d[TILE] = {rowwise[0][nu], rowwise[1][nu], rowwise[2][nu],
                                            rowwise[3][nu], rowwise[4][nu], rowwise[5][nu]};
              float *out[TILE];
              for (int xi = 0; xi < TILE; xi++) {
                out[xi] = v + (size_t)(xi * TILE + nu) * plane + row * depth +
                          (size_t)phase * channels + c0;
              }
              input_rows(d, out, n);
            }
          }
        }
      }
    }
  }
  return 0;
}

void caps_winograd_transform_output(const float *m, size_t plane, int images, int grid, int outputs,
                                    const float *bias, int n0, int n1, float *y) {
  const int tiles = caps_winograd_tiles(grid);
  for (int b = 0; b < images; b++) {
    for (int ty = 0; ty < tiles; ty++) {
      for (int tx = 0; tx < tiles; tx++) {
        const size_t row = ((size_t)b * tiles + ty) * tiles + tx;
        const float *base = m + row * outputs;
        float *out[2][2];
        for (int i = 0; i < 2; i++) {
          for (int j = 0; j < 2; j++) {
            const int oy = 2 * ty + i, ox = 2 * tx + j;
            out[i][j] =
                oy < grid && ox < grid ? y + (((size_t)b * grid + oy) * grid + ox) * outputs : NULL;
          }
        }
        for (int n = n0; n < n1; n++) {
          // t[i][e] = (A^T m)[i][e], then y[i][j] = (t A)[i][j], A^T = {1,1,1,1,1,0;
          // 0,1,-1,2,-2,1}.
          float t[2][TILE];
          for (int e = 0; e < TILE; e++) {
            const float m0 = base[(0 * TILE + e) * plane + n],
                        m1 = base[(1 * TILE + e) * plane + n];
            const float m2 = base[(2 * TILE + e) * plane + n],
                        m3 = base[(3 * TILE + e) * plane + n];
            const float m4 = base[(4 * TILE + e) * plane + n],
                        m5 = base[(5 * TILE + e) * plane + n];
            t[0][e] = m0 + m1 + m2 + m3 + m4;
            t[1][e] = m1 - m2 + 2 * (m3 - m4) + m5;
          }
          const float add = bias ? bias[n] : 0;
          for (int i = 0; i < 2; i++) {
            const float *r = t[i];
            if (out[i][0]) out[i][0][n] = r[0] + r[1] + r[2] + r[3] + r[4] + add;
            if (out[i][1]) out[i][1][n] = r[1] - r[2] + 2 * (r[3] - r[4]) + r[5] + add;
          }
        }
      }
    }
  }
}
