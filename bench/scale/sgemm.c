/* sgemm throughput of the system OpenBLAS in the shape of the exact search's products.
 *
 *   cc -O2 bench/scale/sgemm.c -o sgemm -lopenblas && ./sgemm [M N K [REPS]]
 *
 * Defaults: M = 4096 queries, N = 1024 database rows, K = 256 dimensions, the block faiss's
 * IndexFlatIP multiplies (C = Q * X^T). Prints the core OpenBLAS runs and GFLOPS (2 M N K
 * per product) over REPS products after one warm-up. OPENBLAS_CORETYPE=Prescott shows the
 * generic core an unknown CPU model falls back to. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *openblas_get_corename(void);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int m = argc > 1 ? atoi(argv[1]) : 4096, n = argc > 2 ? atoi(argv[2]) : 1024;
    int k = argc > 3 ? atoi(argv[3]) : 256, reps = argc > 4 ? atoi(argv[4]) : 50;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k);
    float *c = malloc(sizeof(float) * m * n);
    if (!a || !b || !c) return 1;
    unsigned s = 1;
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / (1 << 24);
    for (long i = 0; i < (long)n * k; i++) b[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / (1 << 24);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    double t0 = now();
    for (int r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    double secs = now() - t0;
    printf("core %s: %d x %d x %d sgemm, %d reps in %.3f s: %.1f GFLOPS\n", openblas_get_corename(), m, n,
           k, reps, secs, 2.0 * m * n * k * reps / secs / 1e9);
    free(a);
    free(b);
    free(c);
    return 0;
}
