#!/usr/bin/env bash
# The QAT target on a host without Java (the device machine; BENCHMARKS.md, "The QAT target on a 16-core host"): builds
# llama-quantize there (Release, GGML_NATIVE=ON), makes the checkpoint of `bench/qat.sh learned` (QAT_SHAPE), then
# `bench/qat-pairs.sh learned` with all cores (ALLPAIRS rounds, default 3) and pinned to cores 0 and 1 with taskset
# (PAIRS rounds), with the base jar in every round where the bundle has headclasses/. Run from the repository root
# with the bundle of bench/qat-host-bundle.sh in BUNDLE (default .gpu) and cli/target/requant.jar beside it:
#   QAT_SHAPE=gemma3-1b ALLPAIRS=3 bash bench/qat-host.sh 9
set -uo pipefail
start=$(date +%s)
stamp() { echo "[+$(( $(date +%s) - start )) s] $*"; }
b=${BUNDLE:-.gpu}
n=${1:-9}
[ -x /tmp/jre/bin/java ] || tar xJf "$b/jre.tar.xz" -C /tmp || exit 1
export JAVA_HOME=/tmp/jre PATH=/tmp/jre/bin:$PATH
# the golden tokenizer the checkpoint's grows (no ../shared on the host)
export REQUANT_SHARED="${REQUANT_SHARED:-$(readlink -f "$b/shared")}"
# newer than every source file that came with the tree, so that the launcher does not try to build it (no Maven here)
touch cli/target/requant.jar
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
base=()
if [ -d "$b/headclasses" ]; then
  python3 - cli/target/requant.jar "$b/headclasses" /tmp/base.jar <<'PY' || exit 1
import os, sys, zipfile
src, heads, dst = sys.argv[1:4]
repl = {os.path.relpath(os.path.join(d, f), heads): os.path.join(d, f) for d, _, fs in os.walk(heads) for f in fs}
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zo:
    for info in zi.infolist():
        zo.writestr(info, open(repl[info.filename], 'rb').read() if info.filename in repl else zi.read(info.filename))
print(f"base jar: {len(repl)} classes put back")
PY
  base=(BASE_JAR=/tmp/base.jar)
fi
lq=/tmp/ll/b/bin/llama-quantize
if [ ! -x $lq ]; then
  mkdir -p /tmp/ll && tar xJf "$b/llama-src.tar.xz" -C /tmp/ll
  ( cmake -S /tmp/ll/src-root -B /tmp/ll/b -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF >/tmp/ll/cfg.log 2>&1 \
    && cmake --build /tmp/ll/b --target llama-quantize -j "$(nproc)" >/tmp/ll/build.log 2>&1 ) &
  build=$!
fi
stamp "checkpoint"
bash bench/qat.sh learned 0 2>&1 | tail -2
w=bench/out/qat-learned
[ "${QAT_SHAPE:-1b}" = 1b ] || w="$w-$QAT_SHAPE"
[ -f $w/BF16.gguf ] || ./requant convert $w/hf -o $w/BF16.gguf --type bf16 --no-progress >/dev/null
stamp "llama-quantize build"
[ -n "${build:-}" ] && wait $build
[ -x $lq ] || { tail -20 /tmp/ll/cfg.log /tmp/ll/build.log; exit 1; }
cat $w/hf/*.safetensors $w/BF16.gguf >/dev/null
stamp "all cores"
env LLAMA_QUANTIZE=$lq "${base[@]}" bash bench/qat-pairs.sh learned "${ALLPAIRS:-3}" 2>&1 | tee /tmp/all.log | grep -v "^  outputs"
stamp "pinned to cores 0,1"
env LLAMA_QUANTIZE=$lq "${base[@]}" taskset -c 0,1 bash bench/qat-pairs.sh learned "$n" 2>&1 | tee /tmp/pin.log | grep -v "^  outputs"
stamp "done"
if [ -n "${OUT:-}" ]; then cp /tmp/all.log /tmp/pin.log "$OUT/"; fi
echo "== outputs against the base jar: $(cat /tmp/all.log /tmp/pin.log | grep -c 'outputs identical') identical, $(cat /tmp/all.log /tmp/pin.log | grep -c 'OUTPUTS DIFFER') differ"
echo "all cores:"; grep "/ llama-quantize" /tmp/all.log
echo "pinned:";    grep "/ llama-quantize" /tmp/pin.log
