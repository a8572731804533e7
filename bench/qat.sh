#!/usr/bin/env bash
# QAT lattice encode speed (BENCHMARKS.md, "QAT lattice Q4_0"): convert --type q4_0 of a synthetic ~2 GB BF16 QAT
# checkpoint (1.0 B weights, every 2-D weight on a Q4_0 lattice) with 2 threads, lattice on (--qat auto) and off
# (llama.cpp's max/-8 encoder), against llama-quantize's 2.35 s for plain Q4_0 of a 2.0 GB BF16 GGUF on the issue's
# 2-core machine.
#   bench/qat.sh [RULE] [REPEATS]      RULE: learned (default), absmax7, max8, optionally with :fp32
# QAT_SHAPE picks the shape (the folder is bench/out/qat-RULE, or qat-RULE-SHAPE for the others):
#   1b (default): 38 layers, hidden 1152, ff 6912, the golden tiny vocabulary: 1.02 B weights, 2.0 GB of BF16
#   gemma3-1b: Gemma 3 1B as published (26 layers, hidden 1152, ff 6912, 262,144-piece vocabulary, tied embedding):
#              1.0 B weights, 302 M of them in the embedding
#   4b: Gemma 3 4B's layers (34, hidden 2560, ff 10240) with the tiny vocabulary: 3.2 B weights, 6.4 GB
#   gemma3-4b: Gemma 3 4B's text model as published, 262,144-piece vocabulary: 3.9 B weights, 7.8 GB
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
. scripts/jdk.sh
requant_find_jdk
rule="${1:-learned}"
repeats="${2:-3}"
shape="${QAT_SHAPE:-1b}"
case "$shape" in
  1b) dims=(--layers 38 --hidden 1152 --ff 6912 --heads 4 --kv-heads 1 --head-dim 256) ;;
  gemma3-1b) dims=(--layers 26 --hidden 1152 --ff 6912 --heads 4 --kv-heads 1 --head-dim 256) ;;
  4b|gemma3-4b) dims=(--layers 34 --hidden 2560 --ff 10240 --heads 8 --kv-heads 4 --head-dim 256) ;;
  *) echo "QAT_SHAPE must be 1b, gemma3-1b, 4b or gemma3-4b" >&2; exit 2 ;;
esac
case "$shape" in gemma3-*) dims+=(--vocab 262144) ;; esac
work="$root/bench/out/qat-$rule"
[ "$shape" = 1b ] || work="$work-$shape"
mkdir -p "$work"
./requant --version >/dev/null 2>&1
jar="$root/cli/target/requant.jar"
if [ ! -f "$work/hf/model.safetensors.index.json" ] && [ ! -f "$work/hf/model.safetensors" ]; then
  "$JAVA_HOME/bin/java" -cp "$jar" dev.requant.testmodels.SyntheticCheckpointTool --out "$work/hf" --family gemma3 \
    "${dims[@]}" --qat "$rule" 2>&1 | grep -v incubat
fi
cat "$work"/hf/*.safetensors > /dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%d), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $(du -cb "$work"/hf/*.safetensors | tail -1 | cut -f1) bytes of BF16 ($rule lattice)"
for mode in auto off; do
  for i in $(seq "$repeats"); do
    rm -f "$work/out-$mode.gguf"
    /usr/bin/time -f "qat=$mode run $i: %e s wall, %U+%S s cpu, %M KB" ./requant convert "$work/hf" -o "$work/out-$mode.gguf" \
      --type q4_0 --qat "$mode" --threads 2 --no-progress 2>&1 | grep -E "wall|exact|QAT|attn_q " || true
  done
done
