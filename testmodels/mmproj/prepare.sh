#!/usr/bin/env bash
# Fills .device/mmproj/ (ignored by git) with what run.sh needs on the GPU machine: this folder's scripts, the pinned
# llama.cpp converter from /tmp/llsrc and the tiny SentencePiece tokenizer from the shared golden checkpoints.
# Run from the repository root: bash testmodels/mmproj/prepare.sh
set -eu
SRC=${LLSRC:-/tmp/llsrc}
TOK=${TOKENIZER_DIR:-/work/shared/golden/hf/gemma3-tiny}
D=.device/mmproj
mkdir -p "$D/llsrc" "$D/tokenizer"
cp testmodels/mmproj/run.sh testmodels/mmproj/make_mm.py testmodels/mmproj/run-gemma3-released.sh testmodels/mmproj/released_layout.py "$D/"
rm -rf "$D/llsrc/conversion" "$D/llsrc/gguf-py"
cp "$SRC/convert_hf_to_gguf.py" "$D/llsrc/"
cp -r "$SRC/conversion" "$SRC/gguf-py" "$D/llsrc/"
find "$D/llsrc" -name __pycache__ -prune -exec rm -rf {} +
git -C "$SRC" log -1 --format='%H %ci' >"$D/llsrc/LLAMA_CPP_COMMIT" 2>/dev/null || echo "de3ff81 (git unavailable)" >"$D/llsrc/LLAMA_CPP_COMMIT"
cp "$TOK/tokenizer.model" "$TOK/tokenizer_config.json" "$D/tokenizer/"
du -sh "$D"
