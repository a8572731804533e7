#!/usr/bin/env bash
# Regenerates the expected outputs of GgmlCrosscheckTest from ggml's own quantizers.
#   bench/ggml-crosscheck/crosscheck.sh /path/to/ggml-or-llama.cpp-checkout
# Builds ggml-base there the way llama.cpp does (Release, no -march: GGML_NATIVE=OFF), compiles crosscheck.c against
# it and writes formats/src/test/resources/ggml-crosscheck/{expected.txt,log2f-thresholds.txt}. Needs cmake, gcc,
# python3. The checkout is only read; the build goes to a temporary directory.
set -euo pipefail
src="$(cd "${1:?usage: crosscheck.sh GGML_SOURCE_DIR}" && pwd)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/formats/src/test/resources/ggml-crosscheck"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
[ -f "$src/ggml/CMakeLists.txt" ] && src="$src/ggml"   # a llama.cpp checkout holds ggml in ggml/
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target ggml-base >/dev/null
lib="$(dirname "$(find "$build" -name 'libggml-base.so' | head -n1)")"
gcc -O2 -o "$build/crosscheck" "$here/crosscheck.c" -I"$src/include" -L"$lib" -lggml-base -lm -Wl,-rpath,"$lib"
mkdir -p "$out"
"$build/crosscheck" log2f > "$out/log2f-thresholds.txt"
python3 "$here/expected.py" "$build/crosscheck" "${GGML_COMMIT:-$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)}" > "$out/expected.txt"
echo "wrote $out"
