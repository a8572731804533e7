/* llama-quantize --pure IN OUT TYPE NTHREAD without the command-line tool: the tool's main() parses arguments and
 * calls llama_model_quantize() from libllama with these parameters, which is where all the work happens. Built against
 * a llama.cpp build (bench/llama-quantize-lib/build.sh) when the tools themselves are not at hand. Not part of the
 * requant build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

int main(int argc, char ** argv) {
    if (argc > 1 && strcmp(argv[1], "--pure") == 0) { argv++; argc--; } /* accepted for llama-quantize's syntax */
    if (argc < 4) { fprintf(stderr, "usage: quantize_pure [--pure] IN.gguf OUT.gguf Q4_0|Q8_0 [NTHREAD]\n"); return 2; }
    llama_backend_init();
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    p.nthread = argc > 4 ? atoi(argv[4]) : 2;
    p.ftype = strcmp(argv[3], "Q8_0") == 0 ? LLAMA_FTYPE_MOSTLY_Q8_0 : LLAMA_FTYPE_MOSTLY_Q4_0;
    p.pure = true;
    uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
    llama_backend_free();
    if (rc) fprintf(stderr, "quantize_pure: llama_model_quantize failed (%u)\n", rc);
    return rc ? 1 : 0;
}
