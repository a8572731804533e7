#!/usr/bin/env bash
# Conversion throughput and memory (BENCHMARKS.md, "Conversion"): BF16 -> BF16 conversion of a synthetic ~8 GB Gemma 3
# checkpoint (5 safetensors shards) with a 1 GiB heap, against cp of the same shards on the same disk.
#   bench/convert.sh [WORK_DIR]     (default bench/out/convert; needs ~3x the checkpoint size free)
# Both runs read the shards from the page cache when they fit; both include the time to get the bytes onto the disk
# (requant syncs its output before the rename, so cp is timed with a sync too).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
. scripts/jdk.sh
requant_find_jdk
work="${1:-$root/bench/out/convert}"
LAYERS="${LAYERS:-27}" HIDDEN="${HIDDEN:-3072}" FF="${FF:-12288}"
mkdir -p "$work"
./requant --version >/dev/null   # builds cli/target/requant.jar when needed
jar="$root/cli/target/requant.jar"
java="$JAVA_HOME/bin/java"

if [ ! -f "$work/hf/model.safetensors.index.json" ]; then
  "$java" -cp "$jar" dev.requant.testmodels.SyntheticCheckpointTool --out "$work/hf" --family gemma3 --layers "$LAYERS" \
    --hidden "$HIDDEN" --ff "$FF" --heads 16 --kv-heads 8 --head-dim 256 --shard-bytes $((2 * 1024 * 1024 * 1024))
fi
bytes=$(du -cb "$work"/hf/*.safetensors | tail -1 | cut -f1)
sync

now() { date +%s.%N; }
rate() { python3 -c "import sys; b,t=float(sys.argv[1]),float(sys.argv[2]); print(f'{b/t/1e6:.0f} MB/s ({t:.1f} s)')" "$@"; }

for round in 1 2 3; do
  rm -rf "$work/cp" "$work/out.gguf" "$work/gc.log"
  mkdir -p "$work/cp"
  t0=$(now); cp "$work"/hf/*.safetensors "$work/cp/"; sync; t1=$(now)
  echo "round $round: cp + sync: $(rate "$bytes" "$(echo "$t1 - $t0" | bc)")"
  rm -rf "$work/cp"; sync
  t0=$(now)
  "$java" -Xmx1g -Xlog:gc:file="$work/gc.log" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    -jar "$jar" convert "$work/hf" -o "$work/out.gguf" --type bf16 --no-progress >/dev/null 2>"$work/convert.err"
  t1=$(now)
  echo "round $round: requant convert bf16: $(rate "$bytes" "$(echo "$t1 - $t0" | bc)")"
  # peak heap in use: the largest "before" size of any GC in the log (e.g. "Pause Young ... 52M->3M(1024M)")
  python3 - "$work/gc.log" <<'PY'
import re, sys
peak, n, cap = 0, 0, 0
for line in open(sys.argv[1]):
    m = re.search(r'(\d+)M->(\d+)M\((\d+)M\)', line)
    if m:
        n += 1
        peak = max(peak, int(m.group(1)), int(m.group(2)))
        cap = max(cap, int(m.group(3)))
print(f"         heap: {n} GCs, largest heap in use at a GC {peak} MiB, {cap} MiB committed (-Xmx1g)")
PY
  sync
done
# the same conversion with a 64 MiB heap: the heap does not grow with the model
rm -f "$work/out.gguf"
t0=$(now)
"$java" -Xmx64m --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -jar "$jar" convert "$work/hf" -o "$work/out.gguf" --type bf16 --no-progress >/dev/null 2>"$work/convert.err"
t1=$(now)
echo "with -Xmx64m: requant convert bf16: $(rate "$bytes" "$(echo "$t1 - $t0" | bc)")"
ls -l "$work/out.gguf"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(df -h "$work" | awk 'NR==2{print $1}'), $("$java" -version 2>&1 | head -1)"
