#!/usr/bin/env bash
# Issue 16's speed target on one GPU: the mix's sensitivity measurement of a 4B-shaped model (Gemma 3 4B shape, the
# real 262,144-token vocabulary, synthetic BF16 weights written by testmodels' RunnableSyntheticGguf), timed end to end
# as `requant quantize --target-bpw` runs it: the model quantized to every menu type, the weighted errors, one KLD
# evaluation per (tensor, type) with the tensor swapped into the reference's GPU session, the solve, the written mix
# and its eval. The run goes on in the background (setsid) so that a call cut at its limit leaves it running on a warm
# machine; a later call with the same OUT folder collects it (WAIT=seconds to wait for it).
#   here:   scripts/session-gpu-bundle.sh .gpu && rm -f .gpu/lib/byte-buddy*     (carry .gpu)
#   there:  OUT=... MODES="measured" bash bench/mix-gpu.sh        (TESTS=1: CudaSessionReplaceTest first)
# Knobs: MODES (measured proxy), BPW (4.5), CHUNKS (8 of 512 tokens), THREADS (all cores), WAIT (580).
set -u
S=/tmp/mixgpu; mkdir -p $S ${OUT:=/tmp/out}
T0=$(date +%s); st() { echo "[+$(( $(date +%s) - T0 )) s] $*" | tee -a $S/stamps.log; }
save() { local f=/tmp/mixgpu.$BASHPID.tar.xz; tar cJf $f --exclude='*.gguf' -C /tmp mixgpu 2>/dev/null && mv -f $f $OUT/mixgpu.tar.xz; }
st "begin $(date -u '+%Y-%m-%d %H:%M UTC') $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(nproc) cores"
if [ ! -f $S/run.started ]; then
  STEPS=models SHAPES=gemma3-4b TYPES=bf16 GEN_THREADS=${GEN_THREADS:-14} bash .gpu/session-gpu.sh .gpu $S > $S/models.log 2>&1
  st models; tail -2 $S/models.log
  cat > $S/run.sh <<'EOF'
set -u
S=/tmp/mixgpu
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH REQUANT_SHARED=/tmp/shared REQUANT_CACHE_DIR=/tmp/requant-cache
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
java=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -cp "$PWD/.gpu/lib/*" dev.requant.cli.Main)
m=/tmp/mixgpu/gemma3-4b.bf16.gguf; text=/tmp/calibration-40k.txt
tm() { local a=$(date +%s.%N); "$@"; local r=$?; echo "WALL $(awk -v a=$a -v b=$(date +%s.%N) 'BEGIN{printf "%.1f", b-a}') s rc=$r"; }
smi() { nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits -l 1 > $S/smi-$1.log 2>/dev/null; }
[ -f $S/im.gguf ] || tm "${java[@]}" imatrix -m $m -f $text -c 512 --chunks 32 --device cuda -o $S/im.gguf --no-progress > $S/imatrix.log 2>&1
for mode in ${MODES:-measured proxy}; do
  smi $mode & sp=$!
  tm "${java[@]}" quantize $m $S/mix-$mode.gguf --target-bpw ${BPW:-4.5} --imatrix $S/im.gguf --text $text -c 512 --chunks ${CHUNKS:-8} \
     --sensitivity-mode $mode --sensitivity $S/sens-$mode.json --write-recipe $S/recipe-$mode.txt --device cuda -t ${THREADS:-$(nproc)} \
     > $S/mix-$mode.log 2>&1
  kill $sp; echo "peak GPU MiB $(cut -d, -f1 $S/smi-$mode.log | sort -n | tail -1), mean util $(awk -F, '{s+=$2;n++} END {printf "%.0f", s/n}' $S/smi-$mode.log)%" >> $S/mix-$mode.log
  rm -f $S/mix-$mode.gguf
done
touch $S/run.done
EOF
  mv /tmp/models/gemma3-4b.bf16.gguf $S/ 2>/dev/null
  touch $S/run.started
  MODES="${MODES:-measured proxy}" BPW="${BPW:-4.5}" CHUNKS="${CHUNKS:-8}" THREADS="${THREADS:-}" setsid bash $S/run.sh > $S/run.log 2>&1 < /dev/null &
  st "mix run started in the background"
  if [ "${TESTS:-0}" = 1 ]; then
    # beside the mix's quantization phase (CPU only); the GPU tests take a few cores and a few GiB of the GPU
    STEPS=tests TESTS=dev.requant.runtime.cuda.CudaSessionReplaceTest TESTS_TIMEOUT=150 nice -n 5 bash .gpu/session-gpu.sh .gpu $S > $S/tests-run.log 2>&1
    st tests; grep -E "REPORT replace|tests run|passed|failed|FAIL" $S/tests.log | head -12; save
  fi
fi
wait_s=${WAIT:-580}
while [ ! -f $S/run.done ] && [ $(( $(date +%s) - T0 )) -lt $wait_s ]; do sleep 5; [ $(( ($(date +%s) - T0) % 60 )) -lt 5 ] && save; done
st "done=$([ -f $S/run.done ] && echo yes || echo no)"; save
df -h /tmp | tail -1
for f in $S/imatrix.log $S/mix-*.log; do [ -f $f ] && { echo "== $f"; grep -vE '^\s*$' $f | grep -vE 'at dev\.|at java\.' | tail -25 | cut -c1-220; }; done
