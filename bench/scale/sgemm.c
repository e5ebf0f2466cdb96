/* sgemm throughput of the system OpenBLAS: the peak the k-NN search is measured against.
 *
 *   cc -O2 -pthread bench/scale/sgemm.c -o sgemm -lopenblas
 *   ./sgemm [M N K [REPS [THREADS]]]
 *
 * C = A * B^T (row-major, M x K times N x K), 2 M N K flops per product, REPS products after one
 * warm-up. Without THREADS (or with 0): one call at a time on OpenBLAS's own threads, in the
 * shape faiss's IndexFlatIP multiplies (defaults M = 4096 queries, N = 1024 rows, K = 256).
 * With THREADS = T: T threads side by side, each with its own matrices and OpenBLAS on one
 * thread, which is how the inverted-file self-join runs its products (`src/knn/join.rs`: blocks
 * of 256 rows against about 1024 candidates, `./sgemm 256 1024 256 2000 2` on two cores).
 * Prints the core OpenBLAS runs and the GFLOPS of all threads together. OPENBLAS_CORETYPE=Prescott
 * shows the generic core an unknown CPU model falls back to. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *openblas_get_corename(void);
void openblas_set_num_threads(int);

static int m = 4096, n = 1024, k = 256, reps = 50;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *products(void *arg) {
    unsigned s = 1 + (unsigned)(size_t)arg;
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k);
    float *c = malloc(sizeof(float) * m * n);
    if (!a || !b || !c) exit(1);
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / (1 << 24);
    for (long i = 0; i < (long)n * k; i++) b[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / (1 << 24);
    for (int r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    free(a);
    free(b);
    free(c);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) m = atoi(argv[1]);
    if (argc > 2) n = atoi(argv[2]);
    if (argc > 3) k = atoi(argv[3]);
    if (argc > 4) reps = atoi(argv[4]);
    int threads = argc > 5 ? atoi(argv[5]) : 0;
    int t_reps = reps;
    reps = 1; /* warm-up: OpenBLAS's buffers and thread pool */
    products(NULL);
    reps = t_reps;
    double t0 = now();
    if (threads <= 0) {
        products(NULL);
    } else {
        openblas_set_num_threads(1);
        pthread_t *ids = malloc(sizeof(pthread_t) * threads);
        for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, products, (void *)(size_t)(t + 1));
        for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
        free(ids);
    }
    double secs = now() - t0;
    int calls = threads > 0 ? threads : 1;
    printf("core %s: %d x %d x %d sgemm, %d reps on %s in %.3f s: %.1f GFLOPS\n", openblas_get_corename(), m, n, k,
           reps, threads > 0 ? "one BLAS thread per caller thread" : "OpenBLAS's threads", secs,
           2.0 * m * n * k * reps * calls / secs / 1e9);
    return 0;
}
