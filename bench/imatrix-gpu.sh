#!/usr/bin/env bash
# The GPU run of imatrix collection, on a machine with an NVIDIA GPU and no Java, Maven or network:
#   1. every GPU test of the cuda module and of runtime/cuda (kernels against Java references; the GPU imatrix of
#      the golden gemma3-tiny / gemma4-tiny against the CPU's: same entries and counts, per-tensor rel. L2 <= 1e-3)
#   2. a synthetic Gemma 3 4B-shaped BF16 GGUF (SyntheticGguf.Shape.gemma3_4b), written there
#   3. ImatrixGpuBenchmark on it at -c 512 -b 2048, with split (default) and plain bf16 GEMM inputs: tokens/s,
#      model TFLOP/s, MFU, device time per phase
#   4. requant imatrix MODEL --device cuda end to end on it
#   here:   scripts/imatrix-gpu-bundle.sh DIR
#   there:  bash DIR/imatrix-gpu.sh DIR [OUT]      (logs in OUT; a table at the end)
set -uo pipefail
dir=$(readlink -f "${1:?bundle folder}")
out=${2:-${OUT:-/tmp}}
steps=${STEPS:-tests,bench,cli}
if [ ! -x /tmp/jre/bin/java ]; then tar xJf "$dir/jre.tar.xz" -C /tmp || exit 1; fi
mkdir -p /tmp/shared && tar xJf "$dir/golden.tar.xz" -C /tmp/shared || exit 1
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH REQUANT_SHARED=/tmp/shared
# NVRTC and cuBLAS of the torch wheels (CudaLibraries searches there too; NVRTC finds its builtins library this way)
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
export REQUANT_CACHE_DIR=${REQUANT_CACHE_DIR:-/tmp/requant-cache}
java=(java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx32g -cp "$dir/lib/*")
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | head -2
rc=0
if [[ $steps == *tests* ]]; then
  timeout 300 "${java[@]}" dev.requant.runtime.cuda.GpuImatrixRun 2>&1 | tee "$out/tests.log"
  rc=$((rc | PIPESTATUS[0]))
fi
shape=${SHAPE:-gemma3-4b}
model=/tmp/synthetic-$shape.bf16.gguf
text=/tmp/shared/golden/text/calibration.txt
if [[ $steps == *bench* || $steps == *cli* ]]; then
  t0=$(date +%s)
  "${java[@]}" dev.requant.testmodels.RunnableSyntheticGguf "$model" bf16 "$shape" 1 "$(nproc)" 2>&1 | tail -2
  echo "synthetic model: $(du -h "$model" | cut -f1), written in $(( $(date +%s) - t0 )) s"
fi
if [[ $steps == *bench* ]]; then
  : > "$out/bench.log"
  for inputs in ${INPUTS:-SPLIT_BF16 BF16}; do
    timeout 240 "${java[@]}" dev.requant.runtime.cuda.ImatrixGpuBenchmark "$model" "$text" 512 2048 ${BATCHES:-12} $inputs 2>&1 \
      | tee -a "$out/bench.log"
    rc=$((rc | PIPESTATUS[0]))
  done
fi
if [[ $steps == *cli* ]]; then
  timeout 240 "${java[@]}" dev.requant.cli.Main imatrix "$model" --text "$text" -c 512 --chunks ${CLI_CHUNKS:-96} --device ${CLI_DEVICE:-cuda} \
    -o /tmp/synthetic.imatrix.gguf --no-progress 2>&1 | tee "$out/cli.log"
  rc=$((rc | PIPESTATUS[0]))
  timeout 60 "${java[@]}" dev.requant.cli.Main imatrix stats /tmp/synthetic.imatrix.gguf --top 1 2>&1 | head -6 | tee -a "$out/cli.log"
fi
echo
echo "==== summary"
[ -f "$out/tests.log" ] && grep -E '^(FAIL|SKIP)|^REPORT|^==== [0-9]' "$out/tests.log" | sed 's/^REPORT //'
[ -f "$out/bench.log" ] && grep -E '^\||^  |^model|^open|^entries' "$out/bench.log"
[ -f "$out/cli.log" ] && grep -E 'collected|imatrix,' "$out/cli.log"
exit $rc
