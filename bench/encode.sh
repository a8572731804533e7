#!/usr/bin/env bash
# Block-codec encode benchmark (BENCHMARKS.md, "Block codecs"): GGUF BF16 -> GGUF Q4_0 / Q8_0 with 2 threads, timed
# as whole processes (JVM start, reading the BF16 GGUF, encoding every 2-D tensor, writing a valid GGUF). The issue's
# reference: llama-quantize --pure on a 2.0 GB / 1.01 B-parameter BF16 GGUF, 2 threads: 2.35 s (Q4_0), 3.6 s (Q8_0).
#
#   bench/encode.sh [REPEATS]                       (default 5)
#   LLAMA_QUANTIZE=/path/to/llama-quantize bench/encode.sh
#       also times a llama-quantize you built yourself (`llama-quantize --pure IN OUT TYPE 2`), interleaved with
#       requant's runs, for a same-machine ratio
#   TYPES="Q4_0" and REQUANT_JAVA_OPTS="-XX:..." narrow the run and pass JVM flags
#
# The input is a synthetic Gemma-3-1B-shaped BF16 GGUF (testmodels SyntheticGguf), built once under bench/out/.
# Reports the best and the median of REPEATS runs: on a shared machine the best is the least disturbed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
repeats="${1:-5}"
threads="${THREADS:-2}"
out="$root/bench/out"
mkdir -p "$out"
(cd "$root" && mvn -B -q -o -pl bench -am package dependency:build-classpath -DskipTests \
    -Dmdep.outputFile="$out/classpath.txt" >/dev/null)
cp="$root/bench/target/classes:$(cat "$out/classpath.txt")"
# REQUANT_JAVA_OPTS: extra JVM flags, as the ./requant launcher takes them
# shellcheck disable=SC2206
java=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx2g ${REQUANT_JAVA_OPTS:-} -cp "$cp")
input="$out/gemma3-1b-synthetic.bf16.gguf"
if [ ! -f "$input" ]; then
  echo "building $input (once) ..." >&2
  "${java[@]}" dev.requant.testmodels.SyntheticGguf "$input" gemma3-1b 1 "$threads" 2>&1 | grep -v 'incubat' >&2
fi
cat "$input" > /dev/null   # warm the page cache, as for a file just written or read before
# one timed run: appends "wall cpu" (cpu = user + sys of the process and its threads) to the file $1
timed() {
  local file="$1"; shift
  /usr/bin/time -f "%e %U %S" -o "$out/time.tmp" "$@" >/dev/null 2>&1
  awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$out/time.tmp" >> "$file"
}
median() { sort -g | awk '{v[NR]=$1} END {printf "best %.2f s, median %.2f s", v[1], (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
stats() { # "wall cpu" lines: best and median of each
  local f; f="$(cat)"
  printf "wall %s; cpu %s" "$(cut -d' ' -f1 <<< "$f" | median)" "$(cut -d' ' -f2 <<< "$f" | median)"
}
best() { sort -g "$1" | head -n1 | cut -d' ' -f"$2"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $input ($(stat -c %s "$input") bytes), threads: $threads, repeats: $repeats"
echo "requant JVM flags: ${REQUANT_JAVA_OPTS:-(none)}"
for type in ${TYPES:-Q4_0 Q8_0}; do
  ref=$([ "$type" = Q4_0 ] && echo 2.35 || echo 3.6)
  : > "$out/times.requant.$type"; : > "$out/times.llama.$type"
  for i in $(seq "$repeats"); do
    rm -f "$out/out.$type.gguf"
    timed "$out/times.requant.$type" "${java[@]}" dev.requant.bench.EncodeGguf "$input" "$out/out.$type.gguf" "$type" "$threads"
    if [ -n "${LLAMA_QUANTIZE:-}" ]; then
      rm -f "$out/llama.$type.gguf"
      timed "$out/times.llama.$type" "$LLAMA_QUANTIZE" --pure "$input" "$out/llama.$type.gguf" "$type" "$threads"
    fi
  done
  best=$(best "$out/times.requant.$type" 1)
  printf "requant %s: %s (wall runs: %s); vs llama-quantize's %s s on the issue's machine: %.2fx\n" "$type" \
      "$(stats < "$out/times.requant.$type")" "$(cut -d' ' -f1 "$out/times.requant.$type" | xargs printf '%.2f ')" "$ref" "$(echo "$ref / $best" | bc -l)"
  if [ -n "${LLAMA_QUANTIZE:-}" ]; then
    printf "llama-quantize %s: %s\n" "$type" "$(stats < "$out/times.llama.$type")"
  fi
done
