#!/usr/bin/env bash
# GPU-machine job (needs no GPU): build tiny multimodal Gemma checkpoints with transformers and convert them with the
# pinned llama.cpp convert_hf_to_gguf.py (--mmproj in f16/bf16/f32/q8_0, and the text model in f16).
# Layout beside this script (prepare.sh makes it): make_mm.py, llsrc/{convert_hf_to_gguf.py,conversion,gguf-py,
# LLAMA_CPP_COMMIT}, tokenizer/{tokenizer.model,tokenizer_config.json}.
# Results: $OUT/mmproj/{mmproj-results.tar.gz,log.txt,versions.json,commands.json} (at most 8 files come back).
# Usage (device run tool): bash .device/mmproj/run.sh     (carry: [".device/mmproj"], timeout_s 300)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/mmproj-out}
RES="$OUT/mmproj"
WORK=/tmp/mmproj-work
rm -rf "$WORK" && mkdir -p "$WORK/results" "$RES"
LOG="$WORK/results/log.txt"
echo "start $(date -u +%FT%TZ) host $(hostname) cpus $(nproc)" >"$LOG"

LLSRC="$HERE/llsrc"
[ -f "$LLSRC/convert_hf_to_gguf.py" ] || LLSRC=/tmp/llsrc
if [ ! -f "$LLSRC/convert_hf_to_gguf.py" ]; then
  echo "no convert_hf_to_gguf.py beside run.sh (llsrc/) nor in /tmp/llsrc" | tee -a "$LOG"
  cp "$LOG" "$RES/"; exit 2
fi

# gguf-py comes from the llama.cpp source, never pip. gguf/metadata.py imports yaml at module level but needs it only
# for a README's model card, which these checkpoints do not have: a stub stands in when PyYAML is absent.
SHIM="$WORK/shim"; mkdir -p "$SHIM"
if ! python3 -c 'import yaml' 2>/dev/null; then
  printf 'REQUANT_SHIM = True\n\ndef safe_load(stream):\n    return {}\n' >"$SHIM/yaml.py"
  echo "PyYAML missing: using a stub yaml module" >>"$LOG"
fi
for m in torch transformers numpy safetensors sentencepiece tokenizers; do
  python3 -c "import $m" 2>/dev/null && echo "python module $m: present" >>"$LOG" || echo "python module $m: MISSING" >>"$LOG"
done
export PYTHONPATH="$SHIM:$LLSRC/gguf-py:$LLSRC${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export CUDA_VISIBLE_DEVICES=""   # nothing here needs the GPU

timeout 220 python3 "$HERE/make_mm.py" --llsrc "$LLSRC" --tokenizer "$HERE/tokenizer" --work "$WORK/results" \
  >>"$WORK/stdout.txt" 2>&1
rc=$?
echo "make_mm.py rc=$rc at $(date -u +%FT%TZ)" >>"$LOG"
tail -c 20000 "$WORK/stdout.txt" >"$WORK/results/stdout-tail.txt"
tar czf "$RES/mmproj-results.tar.gz" -C "$WORK" results
cp "$LOG" "$RES/log.txt"
for f in versions.json commands.json; do [ -f "$WORK/results/$f" ] && cp "$WORK/results/$f" "$RES/"; done
ls -l "$RES"
tail -n 40 "$LOG"
exit 0
