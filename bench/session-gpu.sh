#!/usr/bin/env bash
# The GPU run of the forward-pass session (imatrix and eval), on a machine with an NVIDIA GPU and no Java, Maven or
# network. Steps (STEPS, comma-separated; each skips what a previous call on the same warm machine already did):
#   llama    start building llama.cpp for CUDA (sm_90) from the bundled pinned source, in the background (setsid)
#   tests    every GPU test of the cuda module and of runtime/cuda (kernels against their CPU references; imatrix and
#            eval through the GPU session against the CPU session)
#   models   synthetic GGUFs of SHAPES (default SHAPE, default gemma3-4b; real 262,144 vocabulary) in TYPES (default
#            bf16 q8_0 q4_0), e.g. SHAPES="gemma3-12b gemma4-26b-a4b" TYPES="q4_0 q8_0"; a file that would not fit the
#            free disk is skipped with a line saying so (64 GiB disk: 12B q8_0 ~12.5 GB, 26B-A4B q8_0 ~27 GB)
#   bench    ImatrixGpuBenchmark (bf16 model; SPLIT_BF16 and BF16 inputs) and EvalGpuBenchmark (every type)
#   cli      requant eval --device cuda and requant imatrix --device cuda end to end on the bf16 model
#   llamabench  llama-imatrix and llama-perplexity on the same files (waits for the build), with peak GPU memory
#   stream   weights resident vs streamed from pinned host memory (--gpu-weights): ImatrixGpuBenchmark and
#            EvalGpuBenchmark on STREAM_SHAPES (default SHAPE) x STREAM_TYPES (default bf16), RESIDENT then STREAM;
#            one "STREAM |" line each: tokens/s, peak GPU memory, GB/s uploaded, and a result checksum that must be
#            equal between the two placements
#   here:   scripts/session-gpu-bundle.sh DIR
#   there:  STEPS=... bash DIR/session-gpu.sh DIR [OUT]      (logs in OUT; a table at the end)
set -uo pipefail
start=$(date +%s)
dir=$(readlink -f "${1:?bundle folder}")
out=${2:-${OUT:-/tmp}}
steps=${STEPS:-llama,tests,models}
shape=${SHAPE:-gemma3-4b}
shapes=${SHAPES:-$shape}
types=${TYPES:-bf16 q8_0 q4_0}
if [ ! -x /tmp/jre/bin/java ]; then tar xJf "$dir/jre.tar.xz" -C /tmp || exit 1; fi
if [ ! -d /tmp/shared/golden ]; then mkdir -p /tmp/shared && tar xJf "$dir/golden.tar.xz" -C /tmp/shared || exit 1; fi
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH REQUANT_SHARED=/tmp/shared
# NVRTC and cuBLAS of the torch wheels (CudaLibraries searches there too; NVRTC finds its builtins library this way)
wheels=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13
export LD_LIBRARY_PATH=$wheels/lib:${LD_LIBRARY_PATH:-}
export REQUANT_CACHE_DIR=${REQUANT_CACHE_DIR:-/tmp/requant-cache}
java=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx48g -cp "$dir/lib/*")
# the first 40 KB of calibration.txt (~54,000 tokens of the synthetic vocabulary): llama.cpp's SPM tokenizer is
# quadratic on that vocabulary (bytes and "\u2581t{i}", nothing merges), so the whole 894 KB file takes ~4 minutes to
# tokenize in llama-perplexity/llama-imatrix (measured with libllama on the CPU); 40 KB takes 0.3 s
text=/tmp/calibration-40k.txt
[ -f $text ] || head -c 40000 /tmp/shared/golden/text/calibration.txt > $text
models=/tmp/models
mkdir -p "$models"
date -u '+%Y-%m-%d %H:%M UTC'
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader 2>&1 | head -2
rc=0
# whether STEPS names a step (whole names: "llamabench" is not "bench")
has() { [[ ,$steps, == *,$1,* ]]; }
# seconds since the start, before each step (to see where a call's time went when it hits its limit)
stamp() { echo "[+$(( $(date +%s) - start )) s] $*" | tee -a "$out/steps.log"; }

if has llama && [ ! -f /tmp/llama-build.started ]; then
  touch /tmp/llama-build.started
  mkdir -p /tmp/llama && tar xJf "$dir/llama-src.tar.xz" -C /tmp/llama
  cat > /tmp/llama/build.sh <<EOF
set -x
cd /tmp/llama
extra=()
if ! ls /usr/local/cuda/lib64/libcublas.so* >/dev/null 2>&1 && ! ls /usr/local/cuda/targets/*/lib/libcublas.so* >/dev/null 2>&1; then
  # no cuBLAS in the toolkit: the torch wheels' (unversioned links for the linker)
  mkdir -p /tmp/cublas/lib && for l in cublas cublasLt cudart; do ln -sf \$(ls $wheels/lib/lib\$l.so.* | head -1) /tmp/cublas/lib/lib\$l.so; done
  extra=(-DCUDA_cublas_LIBRARY=/tmp/cublas/lib/libcublas.so -DCUDA_cublasLt_LIBRARY=/tmp/cublas/lib/libcublasLt.so
         "-DCMAKE_CUDA_FLAGS=-I$wheels/include" "-DCMAKE_CXX_FLAGS=-I$wheels/include")
fi
cmake -S src-root -B b -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_OPENSSL=OFF "\${extra[@]}" && \
cmake --build b -j \${LLAMA_JOBS:-12} --target llama-imatrix llama-perplexity && touch /tmp/llama-build.ok
touch /tmp/llama-build.done
EOF
  setsid nice -n 5 bash /tmp/llama/build.sh > /tmp/llama-build.log 2>&1 < /dev/null &
  echo "llama.cpp build started in the background"
fi

if has tests; then
  stamp tests
  # TESTS: packages or test classes (default: every GPU test), e.g. TESTS="dev.requant.runtime.cuda.CudaSessionStreamingTest"
  timeout ${TESTS_TIMEOUT:-420} "${java[@]}" dev.requant.runtime.cuda.GpuImatrixRun ${TESTS:-dev.requant.cuda dev.requant.runtime.cuda} 2>&1 | tee "$out/tests.log"
  rc=$((rc | PIPESTATUS[0]))
fi

# billions of parameters of a shape (262,144 vocabulary) and bytes per parameter of a type: the disk check below
params_of() {
  case $1 in
    gemma3-1b) echo 1.0;; gemma3-4b) echo 3.9;; gemma3-12b) echo 11.8;; gemma3-27b) echo 27.0;;
    gemma4-e4b) echo 7.5;; gemma4-12b) echo 11.9;; gemma4-26b-a4b) echo 25.3;; gemma4-31b) echo 30.7;; *) echo 1;;
  esac
}
bytes_per_param() { case $1 in bf16|f16) echo 2;; q8_0) echo 1.0625;; q4_0) echo 0.5625;; f32) echo 4;; *) echo 2;; esac; }

if has models; then
  stamp models
  for sh in $shapes; do
    for t in $types; do
      m=$models/$sh.$t.gguf
      [ -f "$m" ] && continue
      need=$(awk -v p="$(params_of "$sh")" -v b="$(bytes_per_param "$t")" 'BEGIN { printf "%d", p * b * 1e9 / 1048576 + 1024 }')
      free=$(df -Pm "$models" | awk 'NR == 2 { print $4 }')
      if [ "$free" -lt "$need" ]; then
        echo "model $m: skipped, needs about $need MiB of disk and $free MiB are free"
        continue
      fi
      t0=$(date +%s)
      "${java[@]}" dev.requant.testmodels.RunnableSyntheticGguf "$m" "$t" "$sh" 1 ${GEN_THREADS:-8} 2>&1 | tail -1
      echo "model $m: $(du -h "$m" | cut -f1), written in $(( $(date +%s) - t0 )) s" | tee -a "$out/steps.log"
    done
  done
fi

if has bench; then
  stamp bench
  : >> "$out/bench.log"
  m=$models/$shape.bf16.gguf
  for inputs in ${INPUTS:-SPLIT_BF16 BF16}; do
    timeout 240 "${java[@]}" dev.requant.runtime.cuda.ImatrixGpuBenchmark "$m" "$text" 512 2048 ${BATCHES:-10} $inputs 2>&1 | tee -a "$out/bench.log"
    rc=$((rc | PIPESTATUS[0]))
  done
  for t in $types; do
    echo "== eval $shape $t" | tee -a "$out/bench.log"
    timeout 240 "${java[@]}" dev.requant.runtime.cuda.EvalGpuBenchmark "$models/$shape.$t.gguf" "$text" 512 2048 ${BATCHES:-10} ${EVAL_INPUTS:-SPLIT_BF16} 2>&1 | tee -a "$out/bench.log"
    rc=$((rc | PIPESTATUS[0]))
  done
fi

if has stream; then
  stamp stream
  : >> "$out/stream.log"
  for sh in ${STREAM_SHAPES:-$shape}; do
    for t in ${STREAM_TYPES:-bf16}; do
      m=$models/$sh.$t.gguf
      if [ ! -f "$m" ]; then echo "stream: no $m (run the models step with SHAPES=$sh TYPES=$t)" | tee -a "$out/stream.log"; rc=1; continue; fi
      for wgt in ${STREAM_MODES:-RESIDENT STREAM}; do
        echo "== stream $sh $t imatrix $wgt" | tee -a "$out/stream.log"
        timeout ${STREAM_TIMEOUT:-180} "${java[@]}" dev.requant.runtime.cuda.ImatrixGpuBenchmark "$m" "$text" 512 2048 ${STREAM_BATCHES:-6} SPLIT_BF16 $wgt 2>&1 | tee -a "$out/stream.log"
        rc=$((rc | PIPESTATUS[0]))
      done
      for wgt in ${STREAM_MODES:-RESIDENT STREAM}; do
        echo "== stream $sh $t eval $wgt" | tee -a "$out/stream.log"
        timeout ${STREAM_TIMEOUT:-180} "${java[@]}" dev.requant.runtime.cuda.EvalGpuBenchmark "$m" "$text" 512 2048 ${STREAM_BATCHES:-6} SPLIT_BF16 $wgt 2>&1 | tee -a "$out/stream.log"
        rc=$((rc | PIPESTATUS[0]))
      done
    done
  done
fi

if has cli; then
  stamp cli
  m=$models/$shape.bf16.gguf
  q=$models/$shape.q4_0.gguf
  ( time timeout 240 "${java[@]}" dev.requant.cli.Main eval --base "$m" --compare "$q" --text "$text" -c 512 --chunks ${CLI_CHUNKS:-40} \
      --device cuda ${CLI_GPU_WEIGHTS:+--gpu-weights $CLI_GPU_WEIGHTS} --json "$out/eval.json" --no-progress ) 2>&1 | tee "$out/cli.log"
  rc=$((rc | PIPESTATUS[0]))
  ( time timeout 240 "${java[@]}" dev.requant.cli.Main imatrix "$m" --text "$text" -c 512 --chunks ${CLI_CHUNKS:-40} --device cuda \
      ${CLI_GPU_WEIGHTS:+--gpu-weights $CLI_GPU_WEIGHTS} \
      -o /tmp/synthetic.imatrix.gguf --no-progress ) 2>&1 | tee -a "$out/cli.log"
  rc=$((rc | PIPESTATUS[0]))
fi

# peak GPU memory of a command: nvidia-smi sampled every 100 ms
peak_of() {
  local log=$1; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > /tmp/smi.log 2>/dev/null &
  local smi=$!
  "$@" > "$log" 2>&1
  local r=$?
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  echo "peak GPU memory (nvidia-smi): $(sort -n /tmp/smi.log | tail -1) MiB" >> "$log"
  return $r
}

if has llamabench; then
  stamp llamabench
  # wait for the build, but not past LLAMA_DEADLINE seconds after this script started
  while [ ! -f /tmp/llama-build.done ] && [ -f /tmp/llama-build.started ] && [ $(( $(date +%s) - start )) -lt ${LLAMA_DEADLINE:-100000} ]; do sleep 5; done
  tail -3 /tmp/llama-build.log
  cp /tmp/llama-build.log "$out/llama-build.log" 2>/dev/null
  if [ -f /tmp/llama-build.ok ]; then
    : >> "$out/llama.log"
    lb=/tmp/llama/b/bin
    for t in ${LLAMA_TYPES:-$types}; do
      m=$models/$shape.$t.gguf
      stamp "llama-perplexity $t"
      peak_of /tmp/ppl.log "$lb/llama-perplexity" -m "$m" -f "$text" -c 512 -b 2048 --chunks ${LLAMA_CHUNKS:-48} -ngl 99
      echo "== llama-perplexity $shape $t" | tee -a "$out/llama.log"
      grep -E 'perplexity: [0-9.]+ seconds|Final estimate|prompt eval time|peak GPU|CUDA0 model buffer|flash_attn|error' /tmp/ppl.log | tee -a "$out/llama.log"
    done
    m=$models/$shape.bf16.gguf
    stamp "llama-imatrix"
    peak_of /tmp/imx.log "$lb/llama-imatrix" -m "$m" -f "$text" -c 512 -b 2048 --chunks ${LLAMA_IMATRIX_CHUNKS:-16} -ngl 99 -o /tmp/llama.imatrix.gguf
    echo "== llama-imatrix $shape bf16" | tee -a "$out/llama.log"
    grep -E 'seconds per pass|prompt eval time|peak GPU|error|compute_imatrix' /tmp/imx.log | tee -a "$out/llama.log"
  else
    echo "llama.cpp build not finished (or failed) after $(( $(date +%s) - start )) s: $(grep -c 'Building' /tmp/llama-build.log 2>/dev/null) objects built" | tee -a "$out/llama.log"
    cp /tmp/llama-build.log "$out/llama-build.log" 2>/dev/null
    rc=1
  fi
fi

stamp done
echo
echo "==== summary"
[ -f "$out/steps.log" ] && cat "$out/steps.log"
[ -f "$out/tests.log" ] && grep -E '^(FAIL|SKIP)|^REPORT|^==== [0-9]' "$out/tests.log" | sed 's/^REPORT //'
[ -f "$out/bench.log" ] && grep -E '^\||^== |^model|^open|^PPL|^\(mean' "$out/bench.log"
[ -f "$out/stream.log" ] && grep -E '^STREAM|^== stream|^PPL|Exception|Error' "$out/stream.log"
[ -f "$out/cli.log" ] && grep -E 'collected|imatrix,|peak|GPU backend|^real|q4_0' "$out/cli.log"
[ -f "$out/llama.log" ] && cat "$out/llama.log"
exit $rc
