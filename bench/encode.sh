#!/usr/bin/env bash
# Block-codec encode benchmark (BENCHMARKS.md, "Block codecs"): GGUF BF16 -> GGUF Q4_0 / Q8_0 with 2 threads, timed
# as whole processes (JVM start, reading the BF16 GGUF, encoding every 2-D tensor, writing a valid GGUF). The issue's
# reference: llama-quantize --pure on a 2.0 GB / 1.01 B-parameter BF16 GGUF, 2 threads: 2.35 s (Q4_0), 3.6 s (Q8_0).
#
#   bench/encode.sh [REPEATS]                       (default 5)
#   GGML_SRC=/path/to/ggml-or-llama.cpp bench/encode.sh
#       also builds bench/ggml-quantize-pipeline (ggml's own quantizers in llama-quantize's pipeline) and times it on
#       the same file, interleaved with requant's runs, for a same-machine ratio
#   LLAMA_QUANTIZE=/path/to/llama-quantize bench/encode.sh
#       times a real llama-quantize the same way
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
java=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx2g -cp "$cp")
input="$out/gemma3-1b-synthetic.bf16.gguf"
if [ ! -f "$input" ]; then
  echo "building $input (once) ..." >&2
  "${java[@]}" dev.requant.testmodels.SyntheticGguf "$input" gemma3-1b 1 "$threads" 2>&1 | grep -v 'incubat' >&2
fi
pipeline=""
if [ -n "${GGML_SRC:-}" ]; then
  pipeline="$("$root/bench/ggml-quantize-pipeline/build.sh" "$GGML_SRC" "$out/ggml-build")"
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
for type in Q4_0 Q8_0; do
  ref=$([ "$type" = Q4_0 ] && echo 2.35 || echo 3.6)
  : > "$out/times.requant.$type"; : > "$out/times.ggml.$type"; : > "$out/times.llama.$type"
  for i in $(seq "$repeats"); do
    rm -f "$out/out.$type.gguf"
    timed "$out/times.requant.$type" "${java[@]}" dev.requant.bench.EncodeGguf "$input" "$out/out.$type.gguf" "$type" "$threads"
    if [ -n "$pipeline" ]; then
      rm -f "$out/ggml.$type.gguf"
      timed "$out/times.ggml.$type" "$pipeline" "$input" "$out/ggml.$type.gguf" "$type" "$threads"
    fi
    if [ -n "${LLAMA_QUANTIZE:-}" ]; then
      rm -f "$out/llama.$type.gguf"
      timed "$out/times.llama.$type" "$LLAMA_QUANTIZE" --pure "$input" "$out/llama.$type.gguf" "$type" "$threads"
    fi
  done
  best=$(best "$out/times.requant.$type" 1)
  printf "requant %s: %s (wall runs: %s); vs llama-quantize's %s s on the issue's machine: %.2fx\n" "$type" \
      "$(stats < "$out/times.requant.$type")" "$(cut -d' ' -f1 "$out/times.requant.$type" | xargs printf '%.2f ')" "$ref" "$(echo "$ref / $best" | bc -l)"
  if [ -n "$pipeline" ]; then
    gbest=$(best "$out/times.ggml.$type" 1)
    printf "ggml pipeline %s: %s (wall runs: %s); requant is %.2fx its speed (best wall vs best wall), %.2fx (best cpu)\n" "$type" \
        "$(stats < "$out/times.ggml.$type")" "$(cut -d' ' -f1 "$out/times.ggml.$type" | xargs printf '%.2f ')" "$(echo "$gbest / $best" | bc -l)" \
        "$(echo "$(sort -g -k2 "$out/times.ggml.$type" | head -n1 | cut -d' ' -f2) / $(sort -g -k2 "$out/times.requant.$type" | head -n1 | cut -d' ' -f2)" | bc -l)"
    # the tensor data must be identical; only the order of two metadata keys differs
    python3 - "$out/out.$type.gguf" "$out/ggml.$type.gguf" <<'PY' || echo "WARNING: tensor data differ"
import sys
a, b = (open(p, 'rb').read() for p in sys.argv[1:])
assert len(a) == len(b) and a[-(len(a) - 4096):] == b[-(len(b) - 4096):], 'tensor data differ'
print('  outputs: same size, identical after the first 4 KiB (header key order differs)')
PY
  fi
  if [ -n "${LLAMA_QUANTIZE:-}" ]; then
    printf "llama-quantize %s: %s\n" "$type" "$(stats < "$out/times.llama.$type")"
  fi
done
