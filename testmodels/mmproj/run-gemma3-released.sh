#!/usr/bin/env bash
# Second GPU-machine job (no GPU needed, ~30 s): the Gemma 3 reference that the first run could not make. transformers
# 5.17 saves Gemma 3's SigLIP as vision_tower.embeddings.*, which convert_hf_to_gguf.py cannot map; this renames the
# kept checkpoint (testmodels/mmproj/data/gemma3-mm-tiny) to the released layout (released_layout.py, bytes unchanged)
# and converts it with --mmproj in f16, bf16, f32 and q8_0.
# Needs .device/mmproj/llsrc (prepare.sh). Results: $OUT/mmproj2/ (4 GGUFs, the renamed safetensors header, logs).
# Usage (device run tool): bash .device/mmproj/run-gemma3-released.sh   (carry: [".device/mmproj"], timeout_s 200)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/mmproj-out}; RES="$OUT/mmproj2"; mkdir -p "$RES"
W=/tmp/mmproj2; rm -rf "$W"; mkdir -p "$W"
LLSRC="$HERE/llsrc"; [ -f "$LLSRC/convert_hf_to_gguf.py" ] || LLSRC=/tmp/llsrc
python3 "$HERE/released_layout.py" "$ROOT/testmodels/mmproj/data/gemma3-mm-tiny" "$W/gemma3-mm-tiny" >"$RES/log.txt" 2>&1
SHIM="$W/shim"; mkdir -p "$SHIM"
python3 -c 'import yaml' 2>/dev/null || printf 'def safe_load(s):\n    return {}\n' >"$SHIM/yaml.py"
export PYTHONPATH="$SHIM:$LLSRC/gguf-py:$LLSRC" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 CUDA_VISIBLE_DEVICES="" PYTHONUNBUFFERED=1
for t in f16 bf16 f32 q8_0; do
  ( timeout 150 python3 "$LLSRC/convert_hf_to_gguf.py" "$W/gemma3-mm-tiny" --mmproj --outtype $t \
      --outfile "$RES/gemma3-mm-tiny.mmproj-$t.gguf" >"$W/$t.log" 2>&1; echo "$t rc=$?" >>"$RES/log.txt" ) &
done
wait
for t in f16 bf16 f32 q8_0; do echo "== $t" >>"$RES/log.txt"; tail -n 25 "$W/$t.log" >>"$RES/log.txt"; done
md5sum "$W/gemma3-mm-tiny/model.safetensors" "$RES"/*.gguf >>"$RES/log.txt" 2>&1
ls -l "$RES"; grep "rc=" "$RES/log.txt"
