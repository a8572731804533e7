#!/usr/bin/env bash
# requant quantize vs llama-quantize (BENCHMARKS.md, "quantize"): whole processes, 2 threads, on a synthetic
# Gemma-3-1B-shaped BF16 GGUF (2.0 GB, 1.01 B parameters; testmodels SyntheticGguf) and a synthetic GGUF imatrix for it.
# Cases: Q4_0, Q8_0 (default mixture and --pure), Q4_0 --imatrix; then --search exhaustive once per case.
#
#   bench/quantize.sh [REPEATS]                       (default 5)
#   LLAMA_QUANTIZE=/path/to/llama-quantize bench/quantize.sh
#       also times llama-quantize on the same files, each run interleaved with requant's, and checks that both
#       outputs are the same bytes
#   SKIP_EXHAUSTIVE=1 bench/quantize.sh               only the default search
#
# Reports the best and the median wall time of REPEATS runs (on a shared machine the best is the least disturbed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
repeats="${1:-5}"
threads="${THREADS:-2}"
out="$root/bench/out"
mkdir -p "$out"
(cd "$root" && mvn -B -q -o -pl cli,bench -am package dependency:build-classpath -DskipTests \
    -Dmdep.outputFile="$out/classpath.txt" >/dev/null)
cp="$root/bench/target/classes:$(cat "$out/classpath.txt")"
java=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
input="$out/gemma3-1b-synthetic.bf16.gguf"
imatrix="$out/gemma3-1b-synthetic.imatrix.gguf"
if [ ! -f "$input" ]; then
  echo "building $input (once) ..." >&2
  "${java[@]}" -Xmx2g -cp "$cp" dev.requant.testmodels.SyntheticGguf "$input" gemma3-1b 1 "$threads" 2>&1 | grep -v 'incubat' >&2
fi
if [ ! -f "$imatrix" ]; then
  "${java[@]}" -cp "$cp" dev.requant.bench.SyntheticImatrix "$input" "$imatrix" 2>&1 | grep -v 'incubat' >&2
fi
# JVM start-up: an AOT cache (JDK 25, JEP 483/515: classes loaded and linked, method profiles) trained by one
# quantization of a tiny model, kept apart from ./requant's cli/target/requant.aot (made with the launcher's JVM
# options, which a cache must match). NO_AOT=1 measures without it.
jar="$root/cli/target/requant.jar"
aot="$out/quantize.aot"
if [ -z "${NO_AOT:-}" ] && { [ ! -f "$aot" ] || [ "$jar" -nt "$aot" ]; }; then
  tiny="$out/tiny.bf16.gguf"
  [ -f "$tiny" ] || "${java[@]}" -cp "$cp" dev.requant.testmodels.SyntheticGguf "$tiny" tiny 1 "$threads" 2>/dev/null
  rm -f "$aot" "$out/tiny.q.gguf"
  "${java[@]}" -XX:AOTCacheOutput="$aot" -jar "$jar" quantize --no-progress "$tiny" "$out/tiny.q.gguf" Q4_0 "$threads" >/dev/null 2>&1
fi
aotopt=()
if [ -z "${NO_AOT:-}" ]; then aotopt=(-XX:AOTCache="$aot"); fi
cat "$input" > /dev/null   # warm the page cache
timed() { # FILE CMD...: appends "wall_seconds cpu_seconds" of CMD to FILE
  local file=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$out/last.time" "$@" >/dev/null 2>"$out/last.err" || { cat "$out/last.err" >&2; exit 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$out/last.time" >> "$file"
}
stats() { sort -g | awk '{a[NR]=$1; if (NR == 1 || $2 < c) c=$2} END {printf "best %.2f s, median %.2f s (least cpu %.2f s)", a[1], a[int((NR+1)/2)], c}'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)"
echo "input: $input ($(stat -c %s "$input") bytes), threads: $threads, repeats: $repeats, AOT cache: ${aotopt[*]:-none}"
run_case() { # NAME TYPE FLAGS...
  local name=$1 type=$2; shift 2
  rm -f "$out/times.q.requant.$name" "$out/times.q.llama.$name"
  for i in $(seq "$repeats"); do
    rm -f "$out/q.requant.$name.gguf"
    timed "$out/times.q.requant.$name" "${java[@]}" "${aotopt[@]}" -jar "$jar" quantize --no-progress "$@" \
        "$input" "$out/q.requant.$name.gguf" "$type" "$threads"
    if [ -n "${LLAMA_QUANTIZE:-}" ]; then
      rm -f "$out/q.llama.$name.gguf"
      timed "$out/times.q.llama.$name" "$LLAMA_QUANTIZE" "$@" "$input" "$out/q.llama.$name.gguf" "$type" "$threads"
    fi
  done
  local line="requant $name: $(stats < "$out/times.q.requant.$name")"
  if [ -n "${LLAMA_QUANTIZE:-}" ]; then
    local rb lb
    rb=$(sort -g "$out/times.q.requant.$name" | head -n1 | cut -d' ' -f1); lb=$(sort -g "$out/times.q.llama.$name" | head -n1 | cut -d' ' -f1)
    line="$line | llama-quantize: $(stats < "$out/times.q.llama.$name") | ratio (best/best) $(printf %.2f "$(echo "$rb / $lb" | bc -l)")"
    if cmp -s "$out/q.requant.$name.gguf" "$out/q.llama.$name.gguf"; then line="$line | identical output"; else line="$line | OUTPUT DIFFERS"; fi
  fi
  echo "$line"
}
run_case Q4_0 Q4_0
run_case Q4_0-pure Q4_0 --pure
run_case Q8_0 Q8_0
run_case Q8_0-pure Q8_0 --pure
run_case Q4_0-imatrix Q4_0 --imatrix "$imatrix"
if [ -z "${SKIP_EXHAUSTIVE:-}" ]; then
  for c in "Q4_0" "Q8_0" "Q4_0 --imatrix $imatrix"; do
    set -- $c
    rm -f "$out/x.gguf" "$out/times.x"
    timed "$out/times.x" "${java[@]}" "${aotopt[@]}" -jar "$jar" quantize --no-progress --search exhaustive "${@:2}" \
        "$input" "$out/x.gguf" "$1" "$threads"
    echo "requant --search exhaustive $c: $(stats < "$out/times.x") (one run)"
  done
fi
