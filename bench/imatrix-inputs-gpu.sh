#!/usr/bin/env bash
# Issue 14: imatrix's GPU input kinds (--gpu-inputs bf16, the default, against split_bf16) on the dense 4B shape (model
# FLOP utilisation) and the Gemma 4 26B-A4B shape (against llama-imatrix on the same file and text), plus every GPU
# test. Two calls on one warm machine (PART=1 does the essentials; PART=2 a second llama-imatrix pair; PART=3 the 12B shape; each under 10 minutes; PART=2 waits for the llama.cpp
# build that PART=1 starts in the background).
#   here:   scripts/session-gpu-bundle.sh .gpu && rm -f .gpu/lib/byte-buddy*     (carry .gpu)
#   there:  PART=1 OUT=... bash bench/imatrix-inputs-gpu.sh; PART=2 OUT=... bash bench/imatrix-inputs-gpu.sh
set -u
S=/tmp/inputsgpu; mkdir -p $S ${OUT:=/tmp/out}; T0=$(date +%s); LIMIT=${LIMIT:-560}; PART=${PART:-1}
st() { echo "[+$(( $(date +%s) - T0 )) s] part $PART: $*" | tee -a $S/stamps.log; }
left() { echo $(( LIMIT - ($(date +%s) - T0) )); }
save() { local f=/tmp/inputsgpu.$BASHPID.tar.xz; tar cJf $f --exclude='*.gguf' -C /tmp inputsgpu 2>/dev/null && mv -f $f $OUT/inputsgpu.tar.xz; }
st "begin $(date -u '+%Y-%m-%d %H:%M UTC') $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH REQUANT_SHARED=/tmp/shared REQUANT_CACHE_DIR=/tmp/requant-cache
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
java=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -cp ".gpu/lib/*")
d4=/tmp/models/gemma3-4b.bf16.gguf; m26=/tmp/models/gemma4-26b-a4b.q8_0.gguf; text=/tmp/calibration-40k.txt; B=$S/bench.log
tm() { local a=$(date +%s.%N); "$@"; local r=$?; echo "WALL $(awk -v a=$a -v b=$(date +%s.%N) 'BEGIN{printf "%.2f", b-a}') s rc=$r"; }
one() { local name=$1 to=$2; shift 2; [ $(left) -lt 20 ] && { echo "== $name skipped (no time)" >> $B; return; }
  [ $to -gt $(left) ] && to=$(left); st "$name (timeout $to)"; echo "== $name" >> $B
  (tm timeout $to "$@") > $S/$name.log 2>&1; grep -vE 'at (dev|java|jdk)\.' $S/$name.log | grep -vE '^\s*$' | tail -14 >> $B; save; }
if [ "$PART" = 1 ]; then
  STEPS=llama LLAMA_JOBS=12 bash .gpu/session-gpu.sh .gpu $S > $S/llama-start.log 2>&1
  STEPS=tests TESTS="${TESTS:-dev.requant.cuda dev.requant.runtime.cuda dev.requant.runtime.fp4}" TESTS_TIMEOUT=${TESTS_TIMEOUT:-150} \
    nice -n 5 bash .gpu/session-gpu.sh .gpu $S > $S/tests-run.log 2>&1
  st tests; save
  STEPS=models SHAPES="gemma3-4b" TYPES=bf16 GEN_THREADS=8 nice -n 5 bash .gpu/session-gpu.sh .gpu $S > $S/models4.log 2>&1
  st models-4b
  for inputs in BF16 SPLIT_BF16; do
    one bench4b-$inputs 60 "${java[@]}" dev.requant.runtime.cuda.ImatrixGpuBenchmark $d4 $text 512 2048 8 $inputs
  done
  STEPS=models SHAPES="gemma4-26b-a4b" TYPES=q8_0 GEN_THREADS=8 nice -n 5 bash .gpu/session-gpu.sh .gpu $S > $S/models26.log 2>&1
  st models-26b
  one cli26-bf16-1 90 "${java[@]}" dev.requant.cli.Main imatrix $m26 -f $text -c 512 --chunks 100 --device cuda -o /tmp/r26.imatrix.gguf --no-progress
  # per-batch times and the snapshot cost of each periodic save (debug log of ImatrixCollector)
  one cli26-debug 90 "${java[@]}" dev.requant.cli.Main --verbose \
    imatrix $m26 -f $text -c 512 --chunks 100 --device cuda -o /tmp/r26d.imatrix.gguf --no-progress
  grep -E "batch of|snapshot" $S/cli26-debug.log | head -40 >> $B
  while [ ! -f /tmp/llama-build.done ] && [ $(left) -gt 110 ]; do sleep 3; done
  st "llama build $( [ -f /tmp/llama-build.ok ] && echo ok || echo 'not done')"
  [ -f /tmp/llama-build.ok ] && one llama26-1 100 /tmp/llama/b/bin/llama-imatrix -m $m26 -f $text -c 512 -b 2048 --chunks 100 -ngl 99 -o /tmp/l26.imatrix.gguf
  one cli26-bf16-2 40 "${java[@]}" dev.requant.cli.Main imatrix $m26 -f $text -c 512 --chunks 100 --device cuda -o /tmp/r26.imatrix.gguf --no-progress
  one cli26-split 40 "${java[@]}" dev.requant.cli.Main imatrix $m26 -f $text -c 512 --chunks 100 --device cuda --gpu-inputs split_bf16 -o /tmp/r26s.imatrix.gguf --no-progress
  one bench26-BF16 60 "${java[@]}" dev.requant.runtime.cuda.ImatrixGpuBenchmark $m26 $text 512 2048 6 BF16
elif [ "$PART" = 3 ]; then
  # the 12B shape (dense, Q4_0 weights dequantized to bf16 on the GPU): the 26B file makes room for it
  rm -f $m26
  STEPS=models SHAPES="gemma3-12b" TYPES=q4_0 GEN_THREADS=8 nice -n 5 bash .gpu/session-gpu.sh .gpu $S > $S/models12.log 2>&1
  st models-12b
  m12=/tmp/models/gemma3-12b.q4_0.gguf
  for inputs in BF16 SPLIT_BF16; do
    one bench12-$inputs 120 "${java[@]}" dev.requant.runtime.cuda.ImatrixGpuBenchmark $m12 $text 512 2048 6 $inputs
  done
  one cli12-bf16 90 "${java[@]}" dev.requant.cli.Main imatrix $m12 -f $text -c 512 --chunks 100 --device cuda -o /tmp/r12.imatrix.gguf --no-progress
  [ -f /tmp/llama-build.ok ] && one llama12 200 /tmp/llama/b/bin/llama-imatrix -m $m12 -f $text -c 512 -b 2048 --chunks 100 -ngl 99 -o /tmp/l12.imatrix.gguf
else
  # PART=2: a second interleaved pair on the 26B-A4B shape, and the 4B CLI
  [ -f /tmp/llama-build.ok ] && one llama26-2 110 /tmp/llama/b/bin/llama-imatrix -m $m26 -f $text -c 512 -b 2048 --chunks 100 -ngl 99 -o /tmp/l26.imatrix.gguf
  one cli26-bf16-3 60 "${java[@]}" dev.requant.cli.Main imatrix $m26 -f $text -c 512 --chunks 100 --device cuda -o /tmp/r26.imatrix.gguf --no-progress
  one cli4b-bf16 60 "${java[@]}" dev.requant.cli.Main imatrix $d4 -f $text -c 512 --chunks 100 --device cuda -o /tmp/r4.imatrix.gguf --no-progress
fi
st end; save
cat $S/stamps.log; grep -E "^(====|Tests|\[|.*tests (successful|failed))|FAILED|MethodSource|REPORT imatrix-gpu" $S/tests.log 2>/dev/null | head -30; echo
grep -E "^==|tokens/s|TFLOP|MFU|peak|WALL|collected|compute|Final|saving" $B | cut -c1-200 | tail -70
