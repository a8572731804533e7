#!/usr/bin/env bash
# Packs what bench/session-gpu.sh needs on a GPU machine (no Java, no Maven, no network) into DIR:
#   jre.tar.xz        a small JDK 25 runtime (../shared/gpu/make-jre.sh)
#   lib/              requant.jar without the queue's database drivers and the plot library, the testmodels jar (the
#                     synthetic models), the cuda and runtime test classes, JUnit + AssertJ
#   golden.tar.xz     the golden gemma3-tiny and gemma4-tiny checkpoints, calibration.txt and the golden llama-imatrix file (read through REQUANT_SHARED)
#   llama-src.tar.xz  the pinned llama.cpp source (LLSRC, default /tmp/llsrc: node-llama-cpp 3.22.1's bundle), cut to
#                     what llama-imatrix and llama-perplexity need with the CPU and CUDA backends
#   session-gpu.sh    the run itself
# usage: scripts/session-gpu-bundle.sh DIR
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
dir=$(mkdir -p "${1:?target folder}" && readlink -f "$1")
cd "$root"
. scripts/jdk.sh
requant_find_jdk
export JAVA_HOME
[ "${SKIP_BUILD:-}" = 1 ] || mvn -B -q -o package -DskipTests -pl cli -am
rm -rf "$dir/lib" && mkdir -p "$dir/lib"
# test classes and the test dependencies (JUnit, AssertJ); in one reactor so that sibling modules resolve to target/
mvn -B -q -o -pl runtime -am test-compile dependency:copy-dependencies -DincludeScope=test \
  -DexcludeGroupIds=dev.requant,com.fasterxml.jackson.core,com.fasterxml.jackson.dataformat,org.yaml,org.slf4j,org.jspecify,info.picocli,org.apache.commons \
  -DoutputDirectory="$dir/lib"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$JAVA_HOME/bin/jar" xf "$root/cli/target/requant.jar" \
  && rm -rf org/sqlite org/postgresql org/flywaydb org/apache/pdfbox org/apache/fontbox de/rototor de/erichseifert \
            org/knowm META-INF/versions/*/org/sqlite \
  && "$JAVA_HOME/bin/jar" cfe "$dir/lib/requant-slim.jar" dev.requant.cli.Main .)
"$JAVA_HOME/bin/jar" cf "$dir/lib/requant-cuda-tests.jar" -C cuda/target/test-classes .
"$JAVA_HOME/bin/jar" cf "$dir/lib/requant-runtime-tests.jar" -C runtime/target/test-classes .
"$JAVA_HOME/bin/jar" cf "$dir/lib/requant-testmodels.jar" -C testmodels/target/classes .
shared=$(cd "$root/.." && pwd)/shared/golden
tar cJf "$dir/golden.tar.xz" -C "$shared/.." golden/hf/gemma3-tiny golden/hf/gemma4-tiny golden/text/calibration.txt \
  golden/llamacpp/gemma3-tiny.imatrix.gguf
llsrc=${LLSRC:-/tmp/llsrc}
if [ ! -f "$dir/llama-src.tar.xz" ]; then
  rm -rf "$tmp/ll" && mkdir -p "$tmp/ll/src-root"
  (cd "$llsrc" && tar cf - --exclude='ggml/src/ggml-vulkan' --exclude='ggml/src/ggml-sycl' --exclude='ggml/src/ggml-metal' \
      --exclude='ggml/src/ggml-opencl' --exclude='ggml/src/ggml-cann' --exclude='ggml/src/ggml-hexagon' \
      --exclude='ggml/src/ggml-webgpu' --exclude='ggml/src/ggml-openvino' --exclude='ggml/src/ggml-zdnn' \
      --exclude='ggml/src/ggml-et' --exclude='ggml/src/ggml-virtgpu' --exclude='vendor/miniaudio' \
      CMakeLists.txt cmake common ggml include src vendor tools/imatrix tools/perplexity tools/llama-bench LICENSE) \
    | tar xf - -C "$tmp/ll/src-root"
  # only the tools the benchmarks run
  printf 'find_package(Threads REQUIRED)\nllama_add_compile_flags()\nadd_subdirectory(imatrix)\nadd_subdirectory(perplexity)\nadd_subdirectory(llama-bench)\n' \
    > "$tmp/ll/src-root/tools/CMakeLists.txt"
  sed -i 's/^add_subdirectory(miniaudio)/# add_subdirectory(miniaudio)/' "$tmp/ll/src-root/vendor/CMakeLists.txt"
  tar cJf "$dir/llama-src.tar.xz" -C "$tmp/ll" src-root
fi
cp bench/session-gpu.sh "$dir/"
[ -f "$dir/jre.tar.xz" ] || JRE_MODULES=java.base,java.logging,java.management,java.sql,jdk.unsupported,jdk.zipfs,jdk.incubator.vector \
  bash "$root/../shared/gpu/make-jre.sh" "$dir"
du -sh "$dir" "$dir"/lib/* "$dir"/*.tar.xz
