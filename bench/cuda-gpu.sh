#!/usr/bin/env bash
# The GPU run of the cuda module: every GPU test (kernels against their Java scalar references) and the cuBLAS /
# kernel benchmarks, on a machine with an NVIDIA GPU and no Java or Maven.
#   here:   scripts/gpu-bundle.sh DIR          (a JRE, the jars, this script; ~25 MB)
#   there:  bash DIR/cuda-gpu.sh DIR [OUT]     (prints a table at the end; the log goes to OUT/gpu-run.log)
set -uo pipefail
dir=${1:?bundle folder}
out=${2:-${OUT:-/tmp}}
if [ ! -x /tmp/jre/bin/java ]; then tar xJf "$dir/jre.tar.xz" -C /tmp || exit 1; fi
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH
# NVRTC and cuBLAS of the torch wheels (CudaLibraries searches there too; NVRTC finds its builtins library this way)
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
export REQUANT_CACHE_DIR=${REQUANT_CACHE_DIR:-/tmp/requant-cache}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx24g -cp "$dir/lib/*" \
  dev.requant.cuda.GpuTestRunner "${@:3}" 2>&1 | tee "$out/gpu-run.log"
rc=${PIPESTATUS[0]}
ls -la "$REQUANT_CACHE_DIR"/cuda 2>/dev/null | tail -2
exit $rc
