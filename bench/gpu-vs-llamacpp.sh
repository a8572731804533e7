#!/usr/bin/env bash
# requant against llama.cpp on one GPU machine, in one call of under 10 minutes (issue 14's table in BENCHMARKS.md):
# llama.cpp (pinned source, CUDA sm_90) builds in the background while the synthetic models are written (4B BF16, Q8_0,
# Q4_0; 26B-A4B Q8_0; 12B Q4_0) and the streaming/FP4 GPU tests and the Gemma 3 projector reference job run; then
# llama-perplexity against `requant eval -m` and llama-imatrix against `requant imatrix`, interleaved, on the same
# files and text, each command under its own timeout, with peak GPU memory sampled by nvidia-smi. Logs go to $OUT as
# they are made (session.tar.xz), so a call cut at its limit still returns them.
#   here:   scripts/session-gpu-bundle.sh .gpu   (then carry .gpu, bench/gpu-vs-llamacpp.sh, .device/mmproj if wanted)
#   there:  OUT=... bash bench/gpu-vs-llamacpp.sh
set -u
export PATH=/opt/torch/.venv/bin:$PATH
S=/tmp/s; mkdir -p $S $OUT; T0=$(date +%s); LIMIT=${LIMIT:-540}
st() { echo "[+$(( $(date +%s) - T0 )) s] $*" | tee -a $S/stamps.log; }
left() { echo $(( LIMIT - ($(date +%s) - T0) )); }
save() { local f=/tmp/sess.$BASHPID.tar.xz; tar cJf $f -C /tmp s 2>/dev/null && mv -f $f $OUT/session.tar.xz; }
st begin
STEPS=llama LLAMA_JOBS=15 bash .gpu/session-gpu.sh .gpu $S > $S/llama-start.log 2>&1
st build-started
[ -f .device/mmproj/run-gemma3-released.sh ] && (OUT=$S/mm nice -n 15 bash .device/mmproj/run-gemma3-released.sh > $S/mm.log 2>&1; st mm-done; save) &
STEPS=models SHAPES="gemma3-4b" TYPES="bf16 q8_0 q4_0" GEN_THREADS=4 nice -n 10 bash .gpu/session-gpu.sh .gpu $S > $S/models.log 2>&1
st models-4b-done
STEPS=tests TESTS="dev.requant.runtime.cuda.CudaSessionFp4CheckTest dev.requant.runtime.cuda.CudaSessionStreamingTest" TESTS_TIMEOUT=150 nice -n 10 bash .gpu/session-gpu.sh .gpu $S > $S/tests-run.log 2>&1
st tests-done; save
STEPS=models SHAPES="gemma4-26b-a4b" TYPES="q8_0" GEN_THREADS=6 nice -n 10 bash .gpu/session-gpu.sh .gpu $S > $S/models2.log 2>&1
STEPS=models SHAPES="gemma3-12b" TYPES="q4_0" GEN_THREADS=6 nice -n 10 bash .gpu/session-gpu.sh .gpu $S > $S/models3.log 2>&1
st models-26b-done; df -h /tmp | tail -1 >> $S/stamps.log
while [ ! -f /tmp/llama-build.done ] && [ $(left) -gt 200 ]; do sleep 3; done
st "build done=$( [ -f /tmp/llama-build.ok ] && echo ok || echo no) objects=$(grep -c Building /tmp/llama-build.log)"
cp /tmp/llama-build.log $S/; wait; save
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH REQUANT_SHARED=/tmp/shared
wheels=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13
export LD_LIBRARY_PATH=$wheels/lib:${LD_LIBRARY_PATH:-} REQUANT_CACHE_DIR=/tmp/requant-cache
java=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -cp ".gpu/lib/*")
# the first 40 KB of calibration.txt: llama.cpp's SPM tokenizer is quadratic on the synthetic vocabulary (bytes and
# "\u2581t{i}", no merges): the whole 894 KB takes ~4 minutes to tokenize (measured with libllama on the CPU), 40 KB
# under a second; ~54,000 tokens, 105 chunks of 512
text=/tmp/t40k.txt; head -c 40000 /tmp/shared/golden/text/calibration.txt > $text
lb=/tmp/llama/b/bin
peak() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > /tmp/smi.log 2>/dev/null & local p=$!; "$@"; local r=$?; kill $p; wait $p 2>/dev/null; echo "peak GPU memory (nvidia-smi): $(sort -n /tmp/smi.log | tail -1) MiB"; return $r; }
tm() { local a=$(date +%s.%N); "$@"; local r=$?; echo "WALL $(awk -v a=$a -v b=$(date +%s.%N) "BEGIN{printf \"%.2f\", b-a}") s rc=$r"; }
B=$S/bench.log; n=0
# one timed command: NAME TIMEOUT CMD...; its whole log kept as $S/run-N-NAME.log
one() { local name=$1 to=$2; shift 2; n=$((n+1)); local lg=$S/run-$n-$name.log
  [ $(left) -lt 15 ] && { echo "== $name skipped (no time)" >> $B; return; }
  [ $to -gt $(left) ] && to=$(left)
  st "$name (timeout $to)"; echo "== $name" >> $B
  (tm peak timeout $to "$@") > $lg 2>&1
  grep -E 'WALL|peak GPU|Final estimate|prompt eval time|seconds per pass|perplexity: [0-9.]+ seconds|tokenization took|calculating perplexity|model buffer size|CUDA0 compute|error|PPL|tokens/s|collected|GPU memory|imatrix,' $lg | head -30 >> $B
  tail -4 $lg | sed 's/^/  | /' >> $B; save; }
if [ -f /tmp/llama-build.ok ]; then
  m4=/tmp/models/gemma3-4b
  for r in 1 2; do
    for t in bf16 q8_0 q4_0; do
      one llama-ppl-$t-r$r 60 $lb/llama-perplexity -m $m4.$t.gguf -f $text -c 512 -b 2048 --chunks 40 -ngl 99
      one requant-eval-$t-r$r 60 "${java[@]}" dev.requant.cli.Main eval -m $m4.$t.gguf -f $text -c 512 --chunks 40 --device cuda --no-progress
    done
    [ $r = 2 ] && break
  one llama-imatrix-4b 90 $lb/llama-imatrix -m $m4.bf16.gguf -f $text -c 512 -b 2048 --chunks 16 -ngl 99 -o /tmp/l4.imatrix.gguf
  one requant-imatrix-4b 90 "${java[@]}" dev.requant.cli.Main imatrix $m4.bf16.gguf -f $text -c 512 --chunks 16 --device cuda -o /tmp/r4.imatrix.gguf --no-progress
  m26=/tmp/models/gemma4-26b-a4b.q8_0.gguf
  if [ -f $m26 ]; then
    one requant-imatrix-26b 120 "${java[@]}" dev.requant.cli.Main imatrix $m26 -f $text -c 512 --chunks 16 --device cuda -o /tmp/r26.imatrix.gguf --no-progress
    one llama-imatrix-26b 120 $lb/llama-imatrix -m $m26 -f $text -c 512 -b 2048 --chunks 16 -ngl 99 -o /tmp/l26.imatrix.gguf
  fi
  m12=/tmp/models/gemma3-12b.q4_0.gguf
  if [ -f $m12 ]; then
    one requant-imatrix-12b 90 "${java[@]}" dev.requant.cli.Main imatrix $m12 -f $text -c 512 --chunks 16 --device cuda -o /tmp/r12.imatrix.gguf --no-progress
    one llama-imatrix-12b 90 $lb/llama-imatrix -m $m12 -f $text -c 512 -b 2048 --chunks 16 -ngl 99 -o /tmp/l12.imatrix.gguf
  fi
  done
fi
st end; save
echo; cat $S/stamps.log; grep -E "^FAIL|^====|tests run|passed|failed" $S/tests.log 2>/dev/null | tail -6; grep -E "rc=" $S/mm/mmproj2/log.txt 2>/dev/null; echo; cat $B | cut -c1-200 | tail -90
