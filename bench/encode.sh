#!/usr/bin/env bash
# Block-codec encode benchmark (BENCHMARKS.md, "Block codecs"): GGUF BF16 -> GGUF Q4_0 / Q8_0 with 2 threads, timed
# as whole processes (JVM start, reading the BF16 GGUF, encoding every 2-D tensor, writing a valid GGUF), against
# llama-quantize --pure on a 2.0 GB / 1.01 B-parameter BF16 GGUF with 2 threads: 2.35 s (Q4_0) and 3.6 s (Q8_0).
#
#   bench/encode.sh [REPEATS]          (default 3)
#   LLAMA_QUANTIZE=/path/to/llama-quantize bench/encode.sh   also times llama.cpp on the same file and machine
#
# The input is a synthetic Gemma-3-1B-shaped BF16 GGUF (testmodels SyntheticGguf), built once under bench/out/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
repeats="${1:-3}"
threads="${THREADS:-2}"
out="$root/bench/out"
mkdir -p "$out"
(cd "$root" && mvn -B -q -o -pl bench -am package dependency:build-classpath -DskipTests \
    -Dmdep.outputFile="$out/classpath.txt" >/dev/null)
cp="$root/bench/target/classes:$(cat "$out/classpath.txt")"
java=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx2g -cp "$cp")
input="$out/gemma3-1b-synthetic.bf16.gguf"
if [ ! -f "$input" ]; then
  echo "building $input (once) ..." >&2
  "${java[@]}" dev.requant.testmodels.SyntheticGguf "$input" gemma3-1b 1 "$threads" 2>&1 | grep -v 'incubator'
fi
cat "$input" > /dev/null   # warm the page cache, as for a file just written or read before
now() { date +%s.%N; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d)"
echo "input: $input ($(stat -c %s "$input") bytes), threads: $threads, repeats: $repeats"
for type in Q4_0 Q8_0; do
  ref=$([ "$type" = Q4_0 ] && echo 2.35 || echo 3.6)
  best=""
  for i in $(seq "$repeats"); do
    rm -f "$out/out.$type.gguf"
    t0=$(now)
    "${java[@]}" dev.requant.bench.EncodeGguf "$input" "$out/out.$type.gguf" "$type" "$threads" 2>/dev/null
    t1=$(now)
    s=$(echo "$t1 - $t0" | bc -l)
    printf "requant %s run %d: %.2f s (llama-quantize reference %s s: ratio %.2f)\n" "$type" "$i" "$s" "$ref" "$(echo "$ref / $s" | bc -l)"
    best=$(printf "%s\n%s\n" "$best" "$s" | grep . | sort -g | head -n1)
  done
  printf "requant %s best: %.2f s, %.2fx the speed of llama-quantize's %s s\n" "$type" "$best" "$(echo "$ref / $best" | bc -l)" "$ref"
  if [ -n "${LLAMA_QUANTIZE:-}" ]; then
    for i in $(seq "$repeats"); do
      rm -f "$out/llama.$type.gguf"
      t0=$(now)
      "$LLAMA_QUANTIZE" --pure "$input" "$out/llama.$type.gguf" "$type" "$threads" >/dev/null 2>&1
      t1=$(now)
      printf "llama-quantize %s run %d: %.2f s\n" "$type" "$i" "$(echo "$t1 - $t0" | bc -l)"
    done
  fi
done
