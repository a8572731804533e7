#!/usr/bin/env bash
# Single-thread encode speed of the block codecs next to ggml's quantizer on the same floats (BENCHMARKS.md, "Block
# codec encoders, single thread"): bench.CodecSpeed per type in its own JVM, interleaved rounds against
# ggml_quantize_chunk of node-llama-cpp's libggml-base (needs interop/node_modules, scripts/test-prepare-interop.sh).
#   bench/codecs.sh [MILLION_WEIGHTS] [ROUNDS] [ROW]    (default 4, 5 and rows of 2048 weights)
#   TYPES="Q2_K IQ4_XS" bench/codecs.sh                  narrows the run
#   REQUANT_JAVA_OPTS=-Drequant.vector=false bench/codecs.sh   times the scalar reference codecs
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
out="$root/bench/out"
mkdir -p "$out"
(cd "$root" && mvn -B -q -o -pl bench -am package dependency:build-classpath -DskipTests \
    -Dmdep.outputFile="$out/classpath.txt" >/dev/null)
cp="$root/bench/target/classes:$(cat "$out/classpath.txt")"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M') UTC"
for type in ${TYPES:-Q1_0 Q2_0 TQ1_0 TQ2_0 Q2_K Q3_K IQ4_NL IQ4_XS}; do
  # shellcheck disable=SC2086
  (cd "$root" && "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx2g ${REQUANT_JAVA_OPTS:-} \
      -cp "$cp" dev.requant.bench.CodecSpeed "$type" "${1:-4}" "${2:-5}" "${3:-2048}" 2>&1 | grep -v incubat)
done
