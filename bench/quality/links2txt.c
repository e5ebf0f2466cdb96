/* Writes a link list `src dst weight` (the format of `face-cluster infomap`) from three raw
 * little-endian arrays: int32 sources, int32 targets, float32 weights, read from stdin one
 * after the other (count given as argv[1]). proto.py uses it because numpy's text writers take
 * seconds per million links.  Build: cc -O2 -o links2txt links2txt.c */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: links2txt COUNT OUT < src dst w\n"); return 2; }
    size_t n = strtoull(argv[1], NULL, 10);
    int32_t *s = malloc(n * 4), *d = malloc(n * 4);
    float *w = malloc(n * 4);
    if (n && (!s || !d || !w)) return 1;
    if (fread(s, 4, n, stdin) != n || fread(d, 4, n, stdin) != n || fread(w, 4, n, stdin) != n) {
        fprintf(stderr, "links2txt: short input\n");
        return 1;
    }
    FILE *out = fopen(argv[2], "w");
    if (!out) { perror(argv[2]); return 1; }
    static char buf[1 << 20];
    setvbuf(out, buf, _IOFBF, sizeof buf);
    for (size_t i = 0; i < n; i++) fprintf(out, "%d %d %.7g\n", s[i], d[i], (double)w[i]);
    return fclose(out) ? 1 : 0;
}
