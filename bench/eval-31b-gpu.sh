#!/usr/bin/env bash
# Issue 14's eval target on the Gemma 4 31B shape (real 262,144 vocabulary, synthetic weights), one GPU: for each of
# TYPES in turn (one file on the disk at a time: BF16 is 58 GB), llama-perplexity and `requant eval -m` on the same file
# and the first 40 KB of calibration.txt, -c 512, 40 chunks, interleaved, with peak GPU memory (nvidia-smi). requant
# prints its own compute clock ("eval: N tokens in S s", loading excluded) beside llama-perplexity's.
#   HOG_GIB=N  first takes N GiB of the GPU's memory with another process (PyTorch), so that the model no longer fits
#              the rest (HOG_GIB=auto: all but LEAVE_GIB, default 40, of the card): requant then streams layers from pinned host memory (--gpu-weights auto), llama.cpp runs with
#              -ngl NGL (default 30 of 61 layers on the GPU). This is "a model larger than the card" on a 64 GB disk.
# It needs llama.cpp built for CUDA on the machine (bench/moe-gpu.sh or bench/session-gpu.sh STEPS=llama build it into
# /tmp/llama/b/bin; about 5 minutes); without it the llama.cpp runs are skipped with a line saying so.
#   here:   scripts/session-gpu-bundle.sh .gpu && rm -f .gpu/lib/byte-buddy*     (carry .gpu)
#   there:  OUT=... TYPES="q4_0 q8_0 bf16" RUNS=2 bash bench/eval-31b-gpu.sh
set -u
S=/tmp/s31; mkdir -p $S ${OUT:=/tmp/out}
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH REQUANT_CACHE_DIR=/tmp/requant-cache
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
lp=/tmp/llama/b/bin/llama-perplexity
[ -x $lp ] || echo "no llama-perplexity in /tmp/llama/b/bin: llama.cpp runs skipped"
t=/tmp/calibration-40k.txt
java=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -cp ".gpu/lib/*")
peak() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > /tmp/smi.log & local p=$!; "$@"; kill $p; echo "peak GPU MiB $(sort -n /tmp/smi.log | tail -1) (whole card)"; }
hog=""
tag=""
ngl=99
if [ "${HOG_GIB:-}" = auto ]; then
  HOG_GIB=$(( $(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1) / 1024 - ${LEAVE_GIB:-40} ))
fi
if [ -n "${HOG_GIB:-}" ]; then
  rm -f /tmp/hog.ready
  /opt/torch/.venv/bin/python -c "import torch, time; x = torch.empty(int(${HOG_GIB} * 2**30), dtype=torch.uint8, device='cuda'); open('/tmp/hog.ready', 'w').close(); time.sleep(3600)" &
  hog=$!
  for i in $(seq 1 60); do [ -f /tmp/hog.ready ] && break; sleep 1; done
  echo "another process holds ${HOG_GIB} GiB of the GPU: $(nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader)"
  tag="-hog${HOG_GIB}"
  ngl=${NGL:-30}
fi
for ty in ${TYPES:-q4_0 q8_0 bf16}; do
  m=/tmp/models/gemma4-31b.$ty.gguf
  if [ ! -f $m ]; then
    rm -f /tmp/models/*.gguf
    STEPS=models SHAPES=gemma4-31b TYPES=$ty GEN_THREADS=14 bash .gpu/session-gpu.sh .gpu $S 2>&1 | grep "model /" | tail -1
  fi
  [ -f $m ] || { echo "$m: not written (disk?)"; continue; }
  for r in $(seq 1 ${RUNS:-2}); do
    if [ -x $lp ]; then
      peak /usr/bin/time -f "WALL %e s" timeout ${LLAMA_TIMEOUT:-170} $lp -m $m -f $t -c 512 -b 2048 --chunks 40 -ngl $ngl > $OUT/lp31-$ty$tag-$r.log 2>&1
      grep -E "calculating perplexity|Final estimate|WALL|peak GPU|offloaded" $OUT/lp31-$ty$tag-$r.log | cut -c1-160
    fi
    peak /usr/bin/time -f "WALL %e s" timeout 170 "${java[@]}" dev.requant.cli.Main eval -m $m -f $t -c 512 --chunks 40 --device cuda --no-progress > $OUT/rq31-$ty$tag-$r.log 2>&1
    grep -E "PPL|peak|WALL|uploaded|tokens/s|streamed" $OUT/rq31-$ty$tag-$r.log | cut -c1-220
  done
done
[ -n "$hog" ] && kill $hog
exit 0
