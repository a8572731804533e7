#!/usr/bin/env bash
# Builds quantize_pure against a llama.cpp build: headers from SRC/include and SRC/ggml/include, libraries (libllama,
# libggml*) from LIBDIR. Prints the binary's path.   build.sh LLAMA_CPP_SRC LIBDIR [OUT_DIR]
set -euo pipefail
src="${1:?usage: build.sh LLAMA_CPP_SRC LIBDIR [OUT_DIR]}"; lib="${2:?LIBDIR}"; out="${3:-/tmp}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gcc -O2 -o "$out/quantize_pure" "$here/quantize_pure.c" -I"$src/include" -I"$src/ggml/include" -L"$lib" -lllama -lggml -lggml-base \
    -Wl,-rpath,"$lib"
echo "$out/quantize_pure"
