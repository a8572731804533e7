#!/usr/bin/env bash
# requant quantize vs llama-quantize for every file type of issue 15 (BENCHMARKS.md, "Every file type"): whole
# processes, 2 threads, runs interleaved, on a synthetic 127 M-parameter BF16 GGUF whose rows are all multiples of 256
# (testmodels SyntheticGguf bench-127m: no tensor falls back, so the IQ encoders do the work) and a synthetic imatrix.
# Types that llama-quantize refuses without an imatrix run with it; the others run without, and a few with it too.
#
#   LLAMA_QUANTIZE=/path/to/llama-quantize bench/quantize-types.sh [REPEATS]      (default 3)
#   TYPES="IQ2_XS Q3_K_M" ...                                                     narrows the run
#   IMATRIX_TYPES="IQ3_S"                                                         types also run with the imatrix
#   SHAPE=gemma3-1b ...             another SyntheticGguf shape than bench-127m (rows that are not multiples of 256
#                                   fall back to other types, as in llama-quantize)
#   LAUNCHER=1 ...                  requant through ./requant (the launcher and its AOT cache, as users run it)
#                                   instead of java -jar
#   VECTOR_AB=1 ...                 with LAUNCHER=1: also REQUANT_VECTOR=on ./requant in each round (every command in
#                                   the JVM with the Vector API module, as before the launcher started quantize without
#                                   it), printed as a column of its own
#
# Prints per case the best and median wall time of each and the ratio of the bests (requant / llama-quantize), the
# least CPU time (user+sys) of each, and whether the two outputs are the same bytes (cmp).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
: "${LLAMA_QUANTIZE:?set LLAMA_QUANTIZE to a llama-quantize built from the pinned llama.cpp (see BENCHMARKS.md)}"
repeats="${1:-3}"
threads="${THREADS:-2}"
out="$root/bench/out"
mkdir -p "$out"
(cd "$root" && mvn -B -q -o -pl cli,bench -am package dependency:build-classpath -DskipTests \
    -Dmdep.outputFile="$out/classpath.txt" >/dev/null)
cp="$root/bench/target/classes:$(cat "$out/classpath.txt")"
java=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
shape="${SHAPE:-bench-127m}"
input="$out/$shape.bf16.gguf"
imatrix="$out/$shape.imatrix.gguf"
[ -f "$input" ] || "${java[@]}" -Xmx1g -cp "$cp" dev.requant.testmodels.SyntheticGguf "$input" "$shape" 1 "$threads" 2>&1 | grep -v incubat >&2
[ -f "$imatrix" ] || "${java[@]}" -cp "$cp" dev.requant.bench.SyntheticImatrix "$input" "$imatrix" 2>&1 | grep -v incubat >&2
jar="$root/cli/target/requant.jar"
rq=("${java[@]}" -jar "$jar")
if [ "${LAUNCHER:-0}" = 1 ]; then
  rq=("$root/requant")
  "$root/requant" --version >/dev/null   # builds the AOT cache now, not inside a timed run
fi
cat "$input" > /dev/null   # warm the page cache
timed() { # FILE CMD...: appends "wall_seconds cpu_seconds" of CMD to FILE
  local file=$1; shift
  # no dirty pages of the previous run left for this one's writes (requant fsyncs its output, llama-quantize does not:
  # without this, ext4's journal commit made requant's fsync write the previous llama-quantize output too)
  sync
  /usr/bin/time -f "%e %U %S" -o "$out/last.time" "$@" >/dev/null 2>"$out/last.err" || { cat "$out/last.err" >&2; exit 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$out/last.time" >> "$file"
}
best() { sort -g "$1" | head -n1 | cut -d' ' -f1; }
median() { sort -g "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
leastcpu() { sort -g -k2 "$1" | head -n1 | cut -d' ' -f2; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M') UTC"
echo "requant: ${rq[*]}"
echo "input: $input ($(stat -c %s "$input") bytes), threads: $threads, repeats: $repeats, llama-quantize: $LLAMA_QUANTIZE"
printf '| case | requant best / median (s) | llama-quantize best / median (s) | ratio | least CPU s (requant / llama) | output |\n|---|---|---|---|---|---|\n'
run_case() { # NAME TYPE FLAGS...
  local name=$1 type=$2; shift 2
  local key=${name// /}
  rm -f "$out/t.r.$key" "$out/t.l.$key" "$out/t.v.$key"
  for _ in $(seq "$repeats"); do
    rm -f "$out/q.r.$key.gguf" "$out/q.l.$key.gguf"
    timed "$out/t.r.$key" "${rq[@]}" quantize --no-progress "$@" "$input" "$out/q.r.$key.gguf" "$type" "$threads"
    if [ "${VECTOR_AB:-0}" = 1 ]; then
      timed "$out/t.v.$key" env REQUANT_VECTOR=on "${rq[@]}" quantize --no-progress "$@" "$input" "$out/q.v.$key.gguf" "$type" "$threads"
      cmp -s "$out/q.r.$key.gguf" "$out/q.v.$key.gguf" || echo "$name: REQUANT_VECTOR=on wrote other bytes" >&2
      rm -f "$out/q.v.$key.gguf"
    fi
    timed "$out/t.l.$key" "$LLAMA_QUANTIZE" "$@" "$input" "$out/q.l.$key.gguf" "$type" "$threads"
  done
  local same="identical"
  cmp -s "$out/q.r.$key.gguf" "$out/q.l.$key.gguf" || same="DIFFERS"
  printf '| %s | %s / %s | %s / %s | %.2f | %s / %s | %s |\n' "$name" "$(best "$out/t.r.$key")" "$(median "$out/t.r.$key")" \
      "$(best "$out/t.l.$key")" "$(median "$out/t.l.$key")" "$(echo "$(best "$out/t.r.$key") / $(best "$out/t.l.$key")" | bc -l)" \
      "$(leastcpu "$out/t.r.$key")" "$(leastcpu "$out/t.l.$key")" "$same"
  if [ "${VECTOR_AB:-0}" = 1 ]; then
    printf '|   %s, REQUANT_VECTOR=on | %s / %s | | %.2f | %s / | |\n' "$name" "$(best "$out/t.v.$key")" "$(median "$out/t.v.$key")" \
        "$(echo "$(best "$out/t.v.$key") / $(best "$out/t.l.$key")" | bc -l)" "$(leastcpu "$out/t.v.$key")"
  fi
  rm -f "$out/q.r.$key.gguf" "$out/q.l.$key.gguf"
}
needs_imatrix=" IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ3_XXS IQ3_XS Q2_K_S "  # IQ3_XS: its IQ3_XXS tensors need one (tensor_requires_imatrix)
for type in ${TYPES:-Q1_0 Q2_0 TQ1_0 TQ2_0 Q2_K Q2_K_S Q3_K_S Q3_K_M Q3_K_L IQ4_NL IQ4_XS IQ3_XS IQ3_S IQ3_M IQ3_XXS IQ2_M IQ2_S IQ2_XS IQ2_XXS IQ1_M IQ1_S}; do
  if [[ "$needs_imatrix" == *" $type "* ]]; then
    run_case "$type --imatrix" "$type" --imatrix "$imatrix"
  else
    run_case "$type" "$type"
  fi
done
for type in ${IMATRIX_TYPES-Q2_K Q3_K_M IQ4_XS IQ3_S}; do
  run_case "$type --imatrix" "$type" --imatrix "$imatrix"
done
