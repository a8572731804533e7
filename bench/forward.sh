#!/usr/bin/env bash
# CPU forward-pass benchmark (BENCHMARKS.md, "CPU forward pass"): prompt processing of N tokens (llama-bench -p N:
# one batch from an empty KV cache, logits for the last token) on a synthetic Gemma-3-1B-shaped model (testmodels
# RunnableSyntheticGguf: SyntheticGguf's weights, every matrix Q8_0 or Q4_0, a made-up vocabulary so llama.cpp loads
# it), requant's CPU backend against llama.cpp (the pinned node-llama-cpp 3.22.1 CPU binaries, which pick the
# zen4/skylakex/haswell... variant for this CPU) on the same file, runs interleaved.
#
#   bench/forward.sh [REPEATS] [N]          (defaults 3, 512; THREADS=2)
#
# The models are written once under bench/out/ (about 1.6 GB). Prints best and median tokens/s of each.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
repeats="${1:-3}"
n="${2:-512}"
threads="${THREADS:-2}"
out="$root/bench/out"
mkdir -p "$out"
(cd "$root" && mvn -B -q -o -pl runtime,testmodels -am compile >/dev/null)
cp="$root/runtime/target/classes:$root/testmodels/target/classes:$root/formats/target/classes"
cp="$cp:$(find "$HOME/.m2/repository/org/slf4j/slf4j-api/2.0.20" -name 'slf4j-api-2.0.20.jar' | head -1)"
java=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx4g -cp "$cp")
bash "$root/scripts/test-prepare-interop.sh" >/dev/null 2>&1 || { echo "node-llama-cpp could not be installed" >&2; exit 1; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for type in q8_0 q4_0; do
  model="$out/gemma3-1b-synthetic.$type.gguf"
  [ -f "$model" ] || "${java[@]}" dev.requant.testmodels.RunnableSyntheticGguf "$model" "$type" gemma3-1b 1 "$threads" 2>&1 | grep -v incubat >&2
  for r in $(seq 1 "$repeats"); do
    # one measured run per process after one warm-up run, alternating the two implementations
    "${java[@]}" dev.requant.runtime.cpu.PromptBenchmark "$model" "$n" "$threads" 1 2>/dev/null | sed 's/^/requant   /'
    node "$root/bench/prompt-llamacpp.mjs" "$model" "$n" "$threads" 1 2>/dev/null | sed 's/^/llama.cpp /'
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
