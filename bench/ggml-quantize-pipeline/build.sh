#!/usr/bin/env bash
# Builds quantize_pipeline against ggml-base from a ggml or llama.cpp checkout (Release, GGML_NATIVE=OFF: ggml-base
# gets no -march in llama.cpp's own build either). Prints the binary's path.
#   bench/ggml-quantize-pipeline/build.sh /path/to/ggml-or-llama.cpp [BUILD_DIR]
set -euo pipefail
src="$(cd "${1:?usage: build.sh GGML_SOURCE_DIR [BUILD_DIR]}" && pwd)"
[ -f "$src/ggml/CMakeLists.txt" ] && src="$src/ggml"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${2:-/tmp/requant-ggml-build}"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target ggml-base >/dev/null
lib="$(dirname "$(find "$build" -name 'libggml-base.so' | head -n1)")"
g++ -O3 -std=c++17 -o "$build/quantize_pipeline" "$here/quantize_pipeline.cpp" -I"$src/include" -L"$lib" -lggml-base -lpthread -Wl,-rpath,"$lib"
echo "$build/quantize_pipeline"
