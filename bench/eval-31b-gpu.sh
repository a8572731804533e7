#!/usr/bin/env bash
# Issue 14's eval target on the Gemma 4 31B shape (real 262,144 vocabulary, synthetic weights), one GPU: for Q4_0, Q8_0
# and BF16 in turn (one file on the disk at a time: BF16 is 58 GB), llama-perplexity and `requant eval -m` on the
# same file and the first 40 KB of calibration.txt, -c 512, 40 chunks, interleaved, with peak GPU memory (nvidia-smi).
# The 2026-12-06 numbers in BENCHMARKS.md came from these commands, typed into four calls on one warm machine; this
# script puts them in one place. It needs llama.cpp built for CUDA on the machine (bench/moe-gpu.sh or
# bench/session-gpu.sh STEPS=llama build it into /tmp/llama/b/bin; about 5 minutes).
#   here:   scripts/session-gpu-bundle.sh .gpu && rm -f .gpu/lib/byte-buddy*     (carry .gpu)
#   there:  OUT=... TYPES="q4_0 q8_0 bf16" RUNS=2 bash bench/eval-31b-gpu.sh
set -u
S=/tmp/s31; mkdir -p $S ${OUT:=/tmp/out}
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH REQUANT_CACHE_DIR=/tmp/requant-cache
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
[ -x /tmp/llama/b/bin/llama-perplexity ] || { echo "no llama-perplexity in /tmp/llama/b/bin: build it first" >&2; exit 2; }
t=/tmp/calibration-40k.txt
java=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -cp ".gpu/lib/*")
peak() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > /tmp/smi.log & local p=$!; "$@"; kill $p; echo "peak GPU MiB $(sort -n /tmp/smi.log | tail -1)"; }
for ty in ${TYPES:-q4_0 q8_0 bf16}; do
  rm -f /tmp/models/*.gguf
  STEPS=models SHAPES=gemma4-31b TYPES=$ty GEN_THREADS=14 bash .gpu/session-gpu.sh .gpu $S 2>&1 | grep "model /" | tail -1
  m=/tmp/models/gemma4-31b.$ty.gguf
  [ -f $m ] || { echo "$m: not written (disk?)"; continue; }
  for r in $(seq 1 ${RUNS:-2}); do
    peak /usr/bin/time -f "WALL %e s" timeout 170 /tmp/llama/b/bin/llama-perplexity -m $m -f $t -c 512 -b 2048 --chunks 40 -ngl 99 > $OUT/lp31-$ty-$r.log 2>&1
    grep -E "calculating perplexity|Final estimate|WALL|peak GPU" $OUT/lp31-$ty-$r.log | cut -c1-160
    peak /usr/bin/time -f "WALL %e s" timeout 170 "${java[@]}" dev.requant.cli.Main eval -m $m -f $t -c 512 --chunks 40 --device cuda --no-progress > $OUT/rq31-$ty-$r.log 2>&1
    grep -E "PPL|peak|WALL|uploaded|tokens/s" $OUT/rq31-$ty-$r.log | cut -c1-200
  done
done
