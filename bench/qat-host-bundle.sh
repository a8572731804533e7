#!/usr/bin/env bash
# Packs what bench/qat-host.sh needs on a machine without Java or network (the device host) into DIR (default .gpu,
# ignored by git; send it with cli/target/requant.jar):
#   jre.tar.xz        a small JDK 25 runtime (../shared/gpu/make-jre.sh)
#   llama-src.tar.xz  the pinned llama.cpp source (node-llama-cpp 3.22.1's bundle, scripts/test-prepare-interop.sh
#                     installs it), cut to llama-quantize with the CPU backend
#   shared/           the golden gemma3-tiny tokenizer, which the synthetic checkpoint's tokenizer grows
#   headclasses/      with BASE_JAR (an older requant.jar): its classes that differ from cli/target/requant.jar, so
#                     that bench/qat-host.sh rebuilds the old jar there from the new one (a whole second jar would not
#                     fit beside the first in what a device call carries)
# usage: [BASE_JAR=old/requant.jar] bench/qat-host-bundle.sh [DIR]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
. scripts/jdk.sh
requant_find_jdk
dir=$(mkdir -p "${1:-.gpu}" && readlink -f "${1:-.gpu}")
[ -f cli/target/requant.jar ] || ./requant --version >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$dir/llama-src.tar.xz" ]; then
  bash scripts/test-prepare-interop.sh
  git clone -q interop/node_modules/node-llama-cpp/llama/gitRelease.bundle "$tmp/src" 2>/dev/null
  mkdir -p "$tmp/ll/src-root"
  (cd "$tmp/src" && tar cf - --exclude='ggml/src/ggml-vulkan' --exclude='ggml/src/ggml-sycl' --exclude='ggml/src/ggml-metal' \
      --exclude='ggml/src/ggml-opencl' --exclude='ggml/src/ggml-cann' --exclude='ggml/src/ggml-hexagon' \
      --exclude='ggml/src/ggml-webgpu' --exclude='ggml/src/ggml-openvino' --exclude='ggml/src/ggml-zdnn' \
      --exclude='ggml/src/ggml-et' --exclude='ggml/src/ggml-virtgpu' --exclude='ggml/src/ggml-cuda' \
      --exclude='ggml/src/ggml-musa' --exclude='ggml/src/ggml-hip' --exclude='vendor/miniaudio' \
      CMakeLists.txt cmake common ggml include src vendor tools/quantize LICENSE) | tar xf - -C "$tmp/ll/src-root"
  printf 'find_package(Threads REQUIRED)\nllama_add_compile_flags()\nadd_subdirectory(quantize)\n' > "$tmp/ll/src-root/tools/CMakeLists.txt"
  sed -i 's/^add_subdirectory(miniaudio)/# add_subdirectory(miniaudio)/' "$tmp/ll/src-root/vendor/CMakeLists.txt"
  tar cJf "$dir/llama-src.tar.xz" -C "$tmp/ll" src-root
fi
[ -f "$dir/jre.tar.xz" ] || bash "$root/../shared/gpu/make-jre.sh" "$dir" >/dev/null
mkdir -p "$dir/shared/golden/hf/gemma3-tiny"
cp "$root/../shared/golden/hf/gemma3-tiny/tokenizer.model" "$dir/shared/golden/hf/gemma3-tiny/"
rm -rf "$dir/headclasses"
if [ -n "${BASE_JAR:-}" ]; then
  mkdir -p "$tmp/new" "$tmp/base" "$dir/headclasses"
  (cd "$tmp/new" && "$JAVA_HOME/bin/jar" xf "$root/cli/target/requant.jar")
  (cd "$tmp/base" && "$JAVA_HOME/bin/jar" xf "$(readlink -f "$BASE_JAR")")
  if ! diff <(cd "$tmp/new" && find . -type f | sort) <(cd "$tmp/base" && find . -type f | sort) >/dev/null; then
    echo "qat-host-bundle: the two jars hold different files; only jars with the same classes can be rebuilt this way" >&2
    exit 1
  fi
  (cd "$tmp/base" && find . -type f | while read -r f; do cmp -s "$f" "$tmp/new/$f" || { mkdir -p "$dir/headclasses/$(dirname "$f")"; cp "$f" "$dir/headclasses/$f"; }; done)
  echo "headclasses: $(find "$dir/headclasses" -type f | wc -l) files of the base jar"
fi
cp bench/qat-host.sh "$dir/"
du -sh "$dir"
