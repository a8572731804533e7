#!/usr/bin/env bash
# The GPU run of the FP4 verifier, on a machine with an NVIDIA GPU and no Java or Maven:
#   1. the W4A4 GPU tests: the CUDA emulation kernels against the CPU emulation (bit for bit, several shapes) and
#      cuBLASLt's block-scaled FP4 GEMM (Blackwell only: skipped elsewhere with the reason);
#   2. verify-fp4 --device cuda on a small NVFP4 Gemma 3 (static checks, W4A16, W4A4 on CPU and CUDA emulation).
#   here:   scripts/nvfp4-gpu-bundle.sh DIR
#   there:  bash DIR/nvfp4-gpu.sh DIR [OUT]
set -uo pipefail
dir=${1:?bundle folder}
out=${2:-${OUT:-/tmp}}
if [ ! -x /tmp/jre/bin/java ]; then tar xJf "$dir/jre.tar.xz" -C /tmp || exit 1; fi
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
export REQUANT_CACHE_DIR=${REQUANT_CACHE_DIR:-/tmp/requant-cache}
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
J="java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g"
t0=$(date +%s)
$J -cp "$dir/lib/requant.jar:$dir/lib/tests/*" dev.requant.runtime.fp4.Fp4GpuRunner 2>&1 | tee "$out/nvfp4-gpu-tests.log"
rc=${PIPESTATUS[0]}
t1=$(date +%s)
$J -jar "$dir/lib/requant.jar" verify-fp4 "$dir/data/nvfp4" --reference "$dir/data/bf16" --text "$dir/data/text.txt" -c 128 --chunks 4 \
  --device cuda --json "$out/nvfp4-verify.json" 2>&1 | grep -v '^verify-fp4: W' | tee "$out/nvfp4-verify.log"
rc2=${PIPESTATUS[0]}
t2=$(date +%s)
echo "timing: GPU tests $((t1 - t0)) s, verify-fp4 $((t2 - t1)) s; exit codes $rc $rc2"
[ "$rc" = 0 ] && [ "$rc2" = 0 ]
