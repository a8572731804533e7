#!/usr/bin/env bash
# Where does llama.cpp's CPU backend (node-llama-cpp 3.22.1) turn an NVFP4 Gemma 3 into NaN? Quantizes the golden
# gemma3-tiny's projections with ModelOpt's math into GGUFs whose FFN block scales are shifted by 2^-k (and .scale by
# 2^k) for k = 0 (convert_hf_to_gguf.py's split) .. 4, plus the nearest-to-1 split, and runs each in llama.cpp on the
# golden input ids. Needs python3 with numpy; gguf-py comes from the llama.cpp source bundled in node-llama-cpp.
#   bench/nvfp4-split-sweep.sh [WORKDIR]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
w=${1:-$root/bench/out/nvfp4-split}
mkdir -p "$w"
bundle="$root/interop/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -d "$w/llama.cpp" ] || git clone -q "$bundle" "$w/llama.cpp"
"$root/requant" convert "$root/../shared/golden/hf/gemma3-tiny" -o "$w/bf16.gguf" --type bf16 >/dev/null
python3 -c "import json; json.dump(json.load(open('$root/../shared/golden/hf/logits-input.json'))['input_ids'], open('$w/ids.json', 'w'))"
probe="$root/interop/llama-probe.mjs"
for k in deq 0 1 2 3 4 fit; do
  PYTHONPATH="$w/llama.cpp/gguf-py" python3 "$root/bench/nvfp4_split_gguf.py" "$w/bf16.gguf" "$w/k$k.gguf" "$k" 2>/dev/null
  node "$probe" --model "$w/k$k.gguf" --logits "$w/ids.json" --out "$w/k$k.logits" >/dev/null 2>&1
done
python3 "$root/bench/nvfp4_split_gguf.py" --compare "$w/ids.json" "$w/kdeq.logits" "$w"/k[0-9].logits "$w/kfit.logits"
