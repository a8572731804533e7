#!/usr/bin/env bash
# Single-thread speed of the IQ encoders beside ggml's (ggml_quantize_chunk of the pinned libggml-base) on the same
# rows, alternating passes (BENCHMARKS.md, "IQ encoders"). One JVM per type, so that one type's JIT profile does not
# shape another's code. Needs interop/node_modules (scripts/test-prepare-interop.sh).
#   bench/iq-encode.sh [MILLION_WEIGHTS] [TYPE...]     (default 0.5, all seven types)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
out="$root/bench/out"
mkdir -p "$out"
(cd "$root" && mvn -B -q -o -pl bench -am package dependency:build-classpath -DskipTests \
    -Dmdep.outputFile="$out/classpath.txt" >/dev/null)
cp="$root/bench/target/classes:$(cat "$out/classpath.txt")"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)"
million="${1:-0.5}"
shift || true
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(IQ3_XXS IQ3_S IQ2_XXS IQ2_XS IQ2_S IQ1_S IQ1_M)
first=1
for type in "${types[@]}"; do
  "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Drequant.root="$root" \
      -cp "$cp" dev.requant.bench.IqEncodeSpeed "$million" "$type" 2>&1 | grep -v incubat | { [ $first = 1 ] && cat || tail -n 1; }
  first=0
done
