#!/usr/bin/env bash
# CPU speed of requant imatrix (BENCHMARKS.md, "imatrix"): the golden gemma3-tiny converted to BF16 (-c 256, 40 chunks,
# the llama-imatrix parity run) and a synthetic Gemma-3-1B-shaped BF16 model (testmodels RunnableSyntheticGguf,
# written once under bench/out/, 2 GB; -c 512, CHUNKS_1B chunks), over ../shared/golden/text/calibration.txt.
#   bench/imatrix-cpu.sh            (THREADS=2, CHUNKS_1B=4)
# Prints the tokens/s line of each run (collection only: tokenizing and loading excluded).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
threads="${THREADS:-2}"
out="$root/bench/out"
mkdir -p "$out"
text="$root/../shared/golden/text/calibration.txt"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
tiny="$out/gemma3-tiny.bf16.gguf"
[ -f "$tiny" ] || "$root/requant" convert "$root/../shared/golden/hf/gemma3-tiny" --type bf16 -o "$tiny" >/dev/null
"$root/requant" imatrix "$tiny" --text "$text" -c 256 --chunks 40 -o "$out/tiny.imatrix.gguf" --device cpu \
  --threads "$threads" --no-progress 2>/dev/null | grep collected | sed 's/^/gemma3-tiny  /'
big="$out/gemma3-1b-synthetic.bf16.gguf"
if [ ! -f "$big" ]; then
  (cd "$root" && mvn -B -q -o -pl testmodels -am compile >/dev/null)
  "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -cp "$root/testmodels/target/classes:$root/formats/target/classes" \
    dev.requant.testmodels.RunnableSyntheticGguf "$big" bf16 gemma3-1b 1 "$threads" 2>&1 | grep -v incubat >&2
fi
"$root/requant" imatrix "$big" --text "$text" -c 512 --chunks "${CHUNKS_1B:-4}" -o "$out/1b.imatrix.gguf" --device cpu \
  --threads "$threads" --no-progress 2>/dev/null | grep collected | sed 's/^/gemma3-1b    /'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
