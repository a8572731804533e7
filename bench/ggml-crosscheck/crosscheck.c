/* Runs ggml's own quantizers (libggml-base, built without -march like llama.cpp's ggml-base) on the cross-check
 * corpus and prints what GgmlCrosscheckTest compares: see crosscheck.sh. Not part of the build. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "ggml.h"
#include "corpus.h"

int main(int argc, char ** argv) {
    if (argc < 2) { fprintf(stderr, "usage: crosscheck encode TYPE N ROWS IMATRIX SEED | decode TYPE N ROWS SEED | log2f\n"); return 2; }
    if (!strcmp(argv[1], "log2f")) {
        /* for every binade [2^(k-1), 2^k): the smallest float x in it with floorf(log2f(x)) == k, or none */
        for (int k = -148; k <= 128; k++) {
            float lo = ldexpf(1.0f, k - 1);
            uint32_t u; memcpy(&u, &lo, 4);
            uint32_t hi = u + (k - 1 >= -126 ? (1u << 23) : u);  /* the next power of two (exclusive) */
            /* floorf(log2f(x)) is k-1 through most of the binade and can reach k only just below 2^k: scan down */
            long found = -1;
            for (uint32_t b = hi - 1; b >= u; b--) {
                if (floorf(log2f(cc_bits(b))) >= (float)k) found = b; else break;
            }
            printf("%d %ld\n", k, found);
        }
        return 0;
    }
    int type = atoi(argv[2]);
    int n = atoi(argv[3]);
    int rows = atoi(argv[4]);
    ggml_quantize_init(type);
    size_t row_size = ggml_row_size(type, n);
    if (!strcmp(argv[1], "encode")) {
        int imat = atoi(argv[5]);
        cc_state = strtoull(argv[6], NULL, 10);
        float * x = malloc(sizeof(float) * n * rows);
        float * w = malloc(sizeof(float) * n);
        for (int r = 0; r < rows; r++) cc_row(r % CC_KINDS, x + (size_t)r * n, n);
        cc_importance(w, n);
        char * out = calloc(rows, row_size);
        ggml_quantize_chunk(type, x, out, 0, rows, n, imat ? w : NULL);
        fwrite(out, row_size, rows, stdout);
    } else {
        cc_state = strtoull(argv[5], NULL, 10);
        char * in = malloc(row_size * rows);
        for (size_t i = 0; i < row_size * rows; i++) in[i] = (char)(cc_next() >> 56);
        float * y = malloc(sizeof(float) * n * rows);
        if (type == GGML_TYPE_F32) memcpy(y, in, sizeof(float) * n * rows); /* f32 has no to_float */
        else ggml_get_type_traits(type)->to_float(in, y, (int64_t)n * rows);
        fwrite(y, sizeof(float), (size_t)n * rows, stdout);
    }
    return 0;
}
