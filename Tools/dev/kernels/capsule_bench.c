// The capsule part (prediction vectors + 3 routing iterations, softmax over the input capsules)
// of the standard model, old kernels (per image, u_hat[i][j][m], caps_route) against the
// output-major ones (4 images per weight read, fused routing), on random capsules: checks that
// both give the same output capsules and prints CPU ms per image. For instruction counts:
//   valgrind --tool=callgrind /tmp/capsule_bench old 8   (and: new 8)
//   clang -O2 -o /tmp/capsule_bench Tools/dev/kernels/capsule_bench.c \
//     Sources/CCapsKernels/capsule_ops.c -ISources/CCapsKernels/include -lm
//   /tmp/capsule_bench [old|new|both] [images]
#include "caps_capsule_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { I = 1152, J = 10, DI = 8, DO = 16, R = 3 };

static double cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "both";
  const int images = argc > 2 ? atoi(argv[2]) : 64;
  float *w = malloc(sizeof(float) * I * J * DI * DO), *u = malloc(sizeof(float) * images * I * DI);
  unsigned s = 1;
  for (size_t k = 0; k < (size_t)I * J * DI * DO; k++)
    w[k] = ((s = s * 1103515245 + 12345) >> 9) / 8388608.0f - 1.0f;
  for (size_t k = 0; k < (size_t)images * I * DI; k++)
    u[k] = (((s = s * 1103515245 + 12345) >> 9) / 8388608.0f - 1.0f) * 0.3f;
  float *uhat = malloc(sizeof(float) * 4 * I * J * DO), *logits = malloc(sizeof(float) * I * J),
        *coup = malloc(sizeof(float) * I * J);
  float *v_old = malloc(sizeof(float) * images * J * DO),
        *v_new = malloc(sizeof(float) * images * J * DO);
  if (strcmp(mode, "new")) {
    const double t0 = cpu();
    for (int b = 0; b < images; b++) {
      caps_predictions(u + (size_t)b * I * DI, w, I, J, DI, DO, uhat);
      caps_route(uhat, I, J, DO, R, 1, 1e-8f, logits, coup, v_old + b * J * DO, 0);
    }
    printf("old: %.3f CPU ms per image\n", (cpu() - t0) * 1e3 / images);
  }
  if (strcmp(mode, "old")) {
    const double t0 = cpu();
    for (int b = 0; b < images; b += 4) {
      const int n = images - b < 4 ? images - b : 4;
      caps_predictions_output_major(u + (size_t)b * I * DI, w, n, I, J, DI, DO, 0, I, uhat);
      for (int q = 0; q < n; q++)
        caps_route_over_inputs(uhat + (size_t)q * I * J * DO, I, J, DO, R, 1e-8f, 0, J, logits,
                               v_new + (b + q) * J * DO, 0);
    }
    printf("new: %.3f CPU ms per image\n", (cpu() - t0) * 1e3 / images);
  }
  if (!strcmp(mode, "both")) {
    double worst = 0;
    for (int k = 0; k < images * J * DO; k++) {
      const double e = fabs(v_old[k] - v_new[k]);
      if (e > worst) worst = e;
    }
    printf("max |v_old - v_new| = %.3g\n", worst);
  }
  return 0;
}
