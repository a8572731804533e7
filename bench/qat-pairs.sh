#!/usr/bin/env bash
# The issue's QAT speed target, measured as BENCHMARKS.md's QAT section reports it: `requant convert --type q4_0
# --qat auto` of the 1.02 B-weight checkpoint of `bench/qat.sh RULE` against `llama-quantize --pure BF16.gguf OUT Q4_0 2`
# of the same weights (the BF16 GGUF is made once by requant), interleaved, with a `sync` before every run (llama-quantize
# does not fsync; without the sync its dirty pages land in requant's fsync). Also runs BASE_JAR the same way when set
# (an older requant.jar), for before/after numbers on the same machine and minute: through this checkout's launcher
# (a copy of it beside the jar, in bench/out), so with the same JVM options, and its own start-up caches; BASE_LAUNCHER
# names another launcher script to copy instead (a launcher change: BASE_JAR=cli/target/requant.jar and the old script).
#   LLAMA_QUANTIZE=/path/to/llama-quantize [QAT_SHAPE=gemma3-1b|4b|gemma3-4b] bench/qat-pairs.sh [RULE] [PAIRS]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
. scripts/jdk.sh
requant_find_jdk
rule="${1:-learned}"
pairs="${2:-5}"
work="$root/bench/out/qat-$rule"
[ "${QAT_SHAPE:-1b}" = 1b ] || work="$work-$QAT_SHAPE" # QAT_SHAPE: the checkpoint's shape (bench/qat.sh)
lq="${LLAMA_QUANTIZE:-/tmp/llcpu/b/bin/llama-quantize}"
[ -f "$work/hf/model.safetensors" ] || [ -f "$work/hf/model.safetensors.index.json" ] || bench/qat.sh "$rule" 0
[ -f "$work/BF16.gguf" ] || ./requant convert "$work/hf" -o "$work/BF16.gguf" --type bf16 --no-progress >/dev/null
./requant --version >/dev/null 2>&1
if [ -n "${BASE_JAR:-}" ]; then
  # the launcher finds its jar at cli/target/requant.jar beside it and makes the start-up caches there
  base="$root/bench/out/base-launcher"
  mkdir -p "$base/cli/target"
  # with their times kept: the launcher rebuilds a jar older than any .java file beside it (scripts/ holds one)
  cp -p "${BASE_LAUNCHER:-$root/requant}" "$base/requant"
  rm -rf "$base/scripts" && cp -rp "$root/scripts" "$base/scripts"
  cmp -s "$BASE_JAR" "$base/cli/target/requant.jar" || cp "$BASE_JAR" "$base/cli/target/requant.jar"
  "$base/requant" --version >/dev/null 2>&1
fi
timed() { # label, command...
  local label="$1"; shift
  sync
  local load; load="$(cut -d' ' -f1 /proc/loadavg)"
  /usr/bin/time -f "$label %e s wall, %U+%S s cpu, load $load" "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err"; exit 1; }
  tail -n 1 "$work/last.err"
  tail -n 1 "$work/last.err" | cut -d' ' -f1,2 >>"$work/walls.txt"
}
: >"$work/walls.txt"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$pairs"); do
  rm -f "$work/out-pairs.gguf" "$work/out-llama.gguf"
  timed "requant" ./requant convert "$work/hf" -o "$work/out-pairs.gguf" --type q4_0 --qat auto --threads 2 --no-progress
  timed "llama-quantize" "$lq" --pure "$work/BF16.gguf" "$work/out-llama.gguf" Q4_0 2
  if [ -n "${BASE_JAR:-}" ]; then
    rm -f "$work/out-base.gguf"
    timed "requant-base" "$base/requant" convert "$work/hf" -o "$work/out-base.gguf" --type q4_0 --qat auto --threads 2 --no-progress
    cmp -s "$work/out-pairs.gguf" "$work/out-base.gguf" && echo "  outputs identical" || echo "  OUTPUTS DIFFER"
  fi
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
# per-pair wall ratios against llama-quantize's run of the same round, and their median
summary() { # label
  awk -v a="$1" '$1 == a { x[++n] = $2 } $1 == "llama-quantize" { y[++m] = $2 }
    END { for (i = 1; i <= n && i <= m; i++) printf "%.2f\n", x[i] / y[i] }' "$work/walls.txt" | sort -g |
    awk -v a="$1" '{ r[NR] = $1 } END { if (NR) printf "%s / llama-quantize: %s to %s, median %.2f (%d pairs)\n", a, r[1], r[NR],
      NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2, NR }'
}
summary requant
[ -z "${BASE_JAR:-}" ] || summary requant-base
