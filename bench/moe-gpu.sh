#!/usr/bin/env bash
# Issue 14, the mixture-of-experts imatrix on one GPU, in one call of under 10 minutes: llama.cpp (pinned source, CUDA
# sm_90) builds in the background while the MoE GPU tests run and the Gemma 4 26B-A4B shape is written (synthetic
# Q8_0, real 262,144 vocabulary); then ImatrixGpuBenchmark with the pointer-array batched expert GEMMs against one
# GEMM per expert (-Drequant.expertGemms), `requant imatrix` end to end, and llama-imatrix on the same file and text.
#   here:   scripts/session-gpu-bundle.sh .gpu && rm -f .gpu/lib/byte-buddy*     (carry .gpu)
#   there:  OUT=... bash bench/moe-gpu.sh
set -u
S=/tmp/moegpu; mkdir -p $S ${OUT:=/tmp/out}; T0=$(date +%s); LIMIT=${LIMIT:-560}
st() { echo "[+$(( $(date +%s) - T0 )) s] $*" | tee -a $S/stamps.log; }
left() { echo $(( LIMIT - ($(date +%s) - T0) )); }
save() { local f=/tmp/moegpu.$BASHPID.tar.xz; tar cJf $f --exclude='*.gguf' -C /tmp moegpu 2>/dev/null && mv -f $f $OUT/moegpu.tar.xz; }
st "begin $(date -u '+%Y-%m-%d %H:%M UTC') $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
STEPS=llama LLAMA_JOBS=12 bash .gpu/session-gpu.sh .gpu $S > $S/llama-start.log 2>&1
STEPS=tests TESTS="${TESTS:-dev.requant.cuda.MoeKernelTest dev.requant.cuda.GemmTest dev.requant.runtime.cuda.CudaSessionMoeTest dev.requant.runtime.cuda.CudaSessionImatrixTest}" \
  TESTS_TIMEOUT=180 nice -n 5 bash .gpu/session-gpu.sh .gpu $S > $S/tests-run.log 2>&1
st tests; save
STEPS=models SHAPES=gemma4-26b-a4b TYPES=q8_0 GEN_THREADS=8 nice -n 5 bash .gpu/session-gpu.sh .gpu $S > $S/models.log 2>&1
st models
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH REQUANT_SHARED=/tmp/shared REQUANT_CACHE_DIR=/tmp/requant-cache
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
java=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -cp ".gpu/lib/*")
m=/tmp/models/gemma4-26b-a4b.q8_0.gguf; text=/tmp/calibration-40k.txt; B=$S/bench.log
tm() { local a=$(date +%s.%N); "$@"; local r=$?; echo "WALL $(awk -v a=$a -v b=$(date +%s.%N) 'BEGIN{printf "%.2f", b-a}') s rc=$r"; }
one() { local name=$1 to=$2; shift 2; [ $(left) -lt 20 ] && { echo "== $name skipped (no time)" >> $B; return; }
  [ $to -gt $(left) ] && to=$(left); st "$name (timeout $to)"; echo "== $name" >> $B
  (tm timeout $to "$@") > $S/$name.log 2>&1; grep -vE 'at (dev|java|jdk)\.' $S/$name.log | grep -vE '^\s*$' | tail -22 >> $B; save; }
if [ -f $m ]; then
  for eg in BATCHED ONE_PER_EXPERT BATCHED; do
    one bench-$eg 120 "${java[@]}" -Drequant.expertGemms=$eg dev.requant.runtime.cuda.ImatrixGpuBenchmark $m $text 512 2048 6 SPLIT_BF16
  done
  one requant-imatrix 120 "${java[@]}" dev.requant.cli.Main imatrix $m -f $text -c 512 --chunks 16 --device cuda -o /tmp/r26.imatrix.gguf --no-progress
  while [ ! -f /tmp/llama-build.done ] && [ $(left) -gt 60 ]; do sleep 3; done
  st "llama build $( [ -f /tmp/llama-build.ok ] && echo ok || echo 'not done')"
  [ -f /tmp/llama-build.ok ] && one llama-imatrix 90 /tmp/llama/b/bin/llama-imatrix -m $m -f $text -c 512 -b 2048 --chunks 16 -ngl 99 -o /tmp/l26.imatrix.gguf
fi
st end; save
cat $S/stamps.log; grep -E "^====|REPORT.*(seg|pointer|moe|MoE)" $S/tests.log | head -20; echo; cut -c1-220 $B | grep -vE "^\s*\|" | tail -100
