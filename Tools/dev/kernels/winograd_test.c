// Correctness and speed of the Winograd primary convolution (Sources/CCapsKernels/winograd.c)
// against a double-precision direct convolution and the im2col + GEMM path.
//   Tools/dev/kernels/run_winograd.sh [test|bench|all] [seconds]
// test: kernels 7..10, odd and even grids, channel counts that are not multiples of the
// transform's channel block, every GEMM kernel this CPU runs; error = |y - ref| / (sum |x w| +
// |bias|) must stay below 1e-5 (the bound the direct GEMM test uses), and outputs outside the
// computed channel range must stay untouched. bench: conv2 of the standard model (20x20x256 ->
// 6x6x256, 9x9 stride 2) per image on one thread, direct (im2col + GEMM) against Winograd
// (transforms + 36 GEMMs), in CPU time.
#include "caps_capsule_ops.h"
#include "caps_gemm.h"
#include "caps_winograd.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static float frand(void) {  // uniform in [-1, 1)
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)((rng_state >> 40) * (1.0 / 8388608.0) - 1.0);
}

static void *xmalloc(size_t floats) {
  void *p = NULL;
  if (posix_memalign(&p, 64, (floats ? floats : 1) * sizeof(float))) abort();
  return p;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// A convolution's Winograd form: the 36 packed right-hand sides and the buffers for `images`.
typedef struct {
  int images, size, channels, outputs, kernel, grid, rows, depth;
  size_t plane_v, plane_m;
  float *packed[CAPS_WINOGRAD_POSITIONS];
  float *v, *m, *scratch;
} Plan;

static void plan_init(Plan *p, int gemm_kernel, const float *w, int images, int size, int channels,
                      int outputs, int kernel) {
  p->images = images;
  p->size = size;
  p->channels = channels;
  p->outputs = outputs;
  p->kernel = kernel;
  p->grid = (size - kernel) / 2 + 1;
  const int tiles = caps_winograd_tiles(p->grid);
  p->rows = images * tiles * tiles;
  p->depth = CAPS_WINOGRAD_PHASES * channels;
  float *u = xmalloc((size_t)CAPS_WINOGRAD_POSITIONS * p->depth * outputs);
  if (caps_winograd_transform_weights(w, outputs, channels, kernel, u) != 0) abort();
  for (int k = 0; k < CAPS_WINOGRAD_POSITIONS; k++) {
    p->packed[k] = xmalloc(caps_sgemm_packed_b_count_for(gemm_kernel, p->depth, outputs));
    if (caps_sgemm_pack_b_for(gemm_kernel, p->depth, outputs, u + (size_t)k * p->depth * outputs,
                              outputs, p->packed[k]) != 0)
      abort();
  }
  free(u);
  p->plane_v = caps_winograd_plane(p->rows, p->depth);
  p->plane_m = caps_winograd_plane(p->rows, outputs);
  p->v = xmalloc(CAPS_WINOGRAD_POSITIONS * p->plane_v);
  p->m = xmalloc(CAPS_WINOGRAD_POSITIONS * p->plane_m);
  p->scratch = xmalloc(caps_sgemm_scratch_count(p->rows, p->depth));
}

static void plan_free(Plan *p) {
  for (int k = 0; k < CAPS_WINOGRAD_POSITIONS; k++) free(p->packed[k]);
  free(p->v);
  free(p->m);
  free(p->scratch);
}

static void plan_run(const Plan *p, const float *x, const float *bias, int n0, int n1, float *y) {
  if (caps_winograd_transform_input(x, p->images, p->size, p->size, p->channels, p->kernel, p->grid,
                                    p->v, p->plane_v) != 0)
    abort();
  for (int k = 0; k < CAPS_WINOGRAD_POSITIONS; k++) {
    if (caps_sgemm_packed(p->rows, p->outputs, p->depth, p->v + k * p->plane_v, p->depth,
                          p->packed[k], NULL, 0, p->m + k * p->plane_m, p->outputs, n0, n1,
                          p->scratch) != 0)
      abort();
  }
  caps_winograd_transform_output(p->m, p->plane_m, p->images, p->grid, p->outputs, bias, n0, n1, y);
}

static int failures = 0;

static void check(int gemm_kernel, int images, int size, int channels, int outputs, int kernel,
                  int split) {
  const int grid = (size - kernel) / 2 + 1;
  const size_t xs = (size_t)images * size * size * channels;
  const size_t ys = (size_t)images * grid * grid * outputs;
  float *x = xmalloc(xs), *w = xmalloc((size_t)outputs * channels * kernel * kernel);
  float *bias = xmalloc(outputs), *y = xmalloc(ys);
  for (size_t i = 0; i < xs; i++) x[i] = frand() > 0.3f ? frand() + 1 : 0;  // ReLU-like, some 0
  for (size_t i = 0; i < (size_t)outputs * channels * kernel * kernel; i++) w[i] = frand() * 0.1f;
  for (int i = 0; i < outputs; i++) bias[i] = frand();
  for (size_t i = 0; i < ys; i++) y[i] = NAN;
  Plan plan;
  plan_init(&plan, gemm_kernel, w, images, size, channels, outputs, kernel);
  // Split the output channels as threads would (aligned), or run them all at once.
  const int align = caps_sgemm_n_align();
  const int n_split = split && outputs > align ? align : outputs;
  plan_run(&plan, x, bias, 0, n_split, y);
  if (n_split < outputs) plan_run(&plan, x, bias, n_split, outputs, y);
  double worst = 0;
  for (int b = 0; b < images; b++)
    for (int oy = 0; oy < grid; oy++)
      for (int ox = 0; ox < grid; ox++)
        for (int o = 0; o < outputs; o++) {
          double sum = bias[o], magnitude = fabs(bias[o]);
          for (int kh = 0; kh < kernel; kh++)
            for (int kw = 0; kw < kernel; kw++)
              for (int c = 0; c < channels; c++) {
                const double term =
                    (double)
                        x[(((size_t)b * size + 2 * oy + kh) * size + 2 * ox + kw) * channels + c] *
                    w[(((size_t)o * channels + c) * kernel + kh) * kernel + kw];
                sum += term;
                magnitude += fabs(term);
              }
          const float got = y[(((size_t)b * grid + oy) * grid + ox) * outputs + o];
          const double error = fabs(got - sum) / (magnitude > 0 ? magnitude : 1);
          if (!(error <= worst)) worst = isnan(error) ? INFINITY : error;
        }
  const int ok = worst < 1e-5;
  if (!ok) failures++;
  printf("%-8s images %d  %2dx%2dx%-3d -> %dx%dx%-3d kernel %2d%s  error %.2e %s\n",
         caps_sgemm_kernel_name(gemm_kernel), images, size, size, channels, grid, grid, outputs,
         kernel, n_split < outputs ? " (split)" : "", worst, ok ? "ok" : "FAIL");
  plan_free(&plan);
  free(x);
  free(w);
  free(bias);
  free(y);
}

static void test(void) {
  // A kernel Winograd does not take is refused, and nothing is written.
  float probe[4] = {1, 2, 3, 4};
  if (caps_winograd_supported(5, 2) || caps_winograd_supported(9, 1) ||
      !caps_winograd_supported(9, 2) ||
      caps_winograd_transform_weights(probe, 1, 1, 11, probe) != -1 || probe[0] != 1 ||
      caps_winograd_transform_input(probe, 1, 10, 10, 1, 9, 6, probe, 16) != -1) {
    printf("refusals: FAIL\n");
    failures++;
  }
  for (int k = 0; k < CAPS_SGEMM_KERNEL_COUNT; k++) {
    if (!caps_sgemm_kernel_supported(k)) continue;
    check(k, 2, 20, 256, 256, 9, 0);  // the standard model
    check(k, 1, 20, 256, 256, 9, 1);
    check(k, 3, 20, 64, 64, 9, 1);  // the small model's channels
    check(k, 2, 21, 70, 40, 9, 0);  // odd grid (7), channels off the block
    check(k, 1, 17, 33, 24, 7, 0);
    check(k, 2, 18, 5, 17, 8, 1);
    check(k, 1, 22, 16, 48, 10, 1);
    check(k, 1, 10, 3, 1, 10, 0);  // a single output position
  }
}

static void bench(double seconds) {
  const int kernel_id = caps_sgemm_best_kernel();
  const int size = 20, channels = 256, outputs = 256, kernel = 9, grid = 6;
  const int depth = kernel * kernel * channels, positions = grid * grid;
  printf("conv2 of the standard model, one thread, %s GEMM, CPU time per image\n",
         caps_sgemm_kernel_name(kernel_id));
  float *w = xmalloc((size_t)outputs * channels * kernel * kernel);
  for (size_t i = 0; i < (size_t)outputs * channels * kernel * kernel; i++) w[i] = frand() * 0.1f;
  // Direct: weights reordered to (kh, kw, c) x o as the runtime packs them.
  float *reordered = xmalloc((size_t)depth * outputs);
  for (int o = 0; o < outputs; o++)
    for (int c = 0; c < channels; c++)
      for (int kh = 0; kh < kernel; kh++)
        for (int kw = 0; kw < kernel; kw++)
          reordered[((size_t)(kh * kernel + kw) * channels + c) * outputs + o] =
              w[(((size_t)o * channels + c) * kernel + kh) * kernel + kw];
  float *packed = xmalloc(caps_sgemm_packed_b_count_for(kernel_id, depth, outputs));
  caps_sgemm_pack_b_for(kernel_id, depth, outputs, reordered, outputs, packed);
  const int groups[] = {1, 4, 8, 16};
  for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
    const int images = groups[g];
    float *x = xmalloc((size_t)images * size * size * channels);
    for (size_t i = 0; i < (size_t)images * size * size * channels; i++) x[i] = frand() + 1;
    float *y = xmalloc((size_t)images * positions * outputs);
    float *columns = xmalloc((size_t)images * positions * depth);
    float *scratch = xmalloc(caps_sgemm_scratch_count(images * positions, depth));
    double direct = 1e9, winograd = 1e9, transforms = 1e9;
    Plan plan;
    plan_init(&plan, kernel_id, w, images, size, channels, outputs, kernel);
    for (int round = 0; round < 3; round++) {
      int runs = 0;
      double start = cpu_now(), elapsed;
      do {
        for (int b = 0; b < images; b++)
          caps_im2col_nhwc(x + (size_t)b * size * size * channels, size, size, channels, kernel, 2,
                           columns + (size_t)b * positions * depth);
        caps_sgemm_packed(images * positions, outputs, depth, columns, depth, packed, NULL, 0, y,
                          outputs, 0, outputs, scratch);
        runs++;
      } while ((elapsed = cpu_now() - start) < seconds / 6);
      if (elapsed / runs / images < direct) direct = elapsed / runs / images;
      runs = 0;
      start = cpu_now();
      do {
        plan_run(&plan, x, NULL, 0, outputs, y);
        runs++;
      } while ((elapsed = cpu_now() - start) < seconds / 6);
      if (elapsed / runs / images < winograd) winograd = elapsed / runs / images;
      runs = 0;
      start = cpu_now();
      do {
        caps_winograd_transform_input(x, images, size, size, channels, kernel, grid, plan.v,
                                      plan.plane_v);
        caps_winograd_transform_output(plan.m, plan.plane_m, images, grid, outputs, NULL, 0,
                                       outputs, y);
        runs++;
      } while ((elapsed = cpu_now() - start) < seconds / 6);
      if (elapsed / runs / images < transforms) transforms = elapsed / runs / images;
    }
    const double flops = 2.0 * positions * depth * outputs;
    printf(
        "  %2d images: direct %.3f ms (%.0f GFLOP/s)  winograd %.3f ms (%.0f direct-GFLOP/s"
        " equivalent, transforms %.3f ms)  %.2fx\n",
        images, direct * 1e3, flops / direct * 1e-9, winograd * 1e3, flops / winograd * 1e-9,
        transforms * 1e3, direct / winograd);
    plan_free(&plan);
    free(x);
    free(y);
    free(columns);
    free(scratch);
  }
  free(w);
  free(reordered);
  free(packed);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "all";
  const double seconds = argc > 2 ? atof(argv[2]) : 3;
  if (strcmp(mode, "bench")) test();
  if (strcmp(mode, "test")) bench(seconds);
  if (failures) printf("%d FAILED\n", failures);
  return failures ? 1 : 0;
}
