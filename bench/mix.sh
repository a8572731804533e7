#!/usr/bin/env bash
# Issue 16: measured mixes against llama.cpp's file types on a trained tiny Gemma 3, on the CPU.
#   bash bench/mix.sh PLAIN_HF QAT_HF OUT_DIR      (the folders .device/mix/train.sh makes on the GPU machine)
# PLAIN_HF: requant report (standard types with and without the imatrix, mixes at their sizes), evaluated by requant on
#   held-out text and by llama.cpp's own logits (bench/qat-train/JudgeWithLlamaCpp.java, node-llama-cpp on the CPU).
# QAT_HF: the lattice Q4_0 conversion against a mix at its size.
# Text: calibration.txt's first 90% calibrates (imatrix, mix sensitivity), the last 10% is held out (the training split).
# Knobs: THREADS (2), MIX_CHUNKS (8 chunks of 512 for the sensitivity), EVAL_CHUNKS (-1: all held-out chunks),
# TYPES (report --types; default its own list), REPORT=0 keeps a finished report (report/pareto.json) as it is, JUDGE=0 skips llama.cpp's judgement (slow: about a minute a file).
# LLAMA_PERPLEXITY=/path/to/llama-perplexity (a CPU build of the pinned llama.cpp): the issue's own judgement, llama.cpp's
#   `llama-perplexity -c 512` KLD of every file against the BF16 file on held.txt (lp/*.txt), and the targets
#   (targets.txt); skipped when unset.
set -euo pipefail
plain=${1:?plain HF folder}; qat=${2:?QAT HF folder}; out=${3:?output folder}
root=$(cd "$(dirname "$0")/.." && pwd)
jar=$root/cli/target/requant.jar
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
rq=(nice -n 5 "$JAVA_HOME/bin/java" -Xmx4g --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar "$jar")
threads=${THREADS:-2}
mkdir -p "$out"
text=${REQUANT_SHARED:-$root/../shared}/golden/text/calibration.txt
python3 - "$text" "$out" <<'PY'
import sys
s = open(sys.argv[1], encoding="utf-8").read(); cut = int(len(s) * 0.9)
open(sys.argv[2] + "/calib.txt", "w", encoding="utf-8").write(s[:cut])
open(sys.argv[2] + "/held.txt", "w", encoding="utf-8").write(s[cut:])
PY
cd "$out"
[ -f plain.bf16.gguf ] || "${rq[@]}" convert "$plain" -o plain.bf16.gguf --type bf16 --no-progress
[ -f plain.imatrix.gguf ] || "${rq[@]}" imatrix -m plain.bf16.gguf -f calib.txt -o plain.imatrix.gguf -c 512 --chunks 100 --device cpu -t "$threads" --no-progress
[ "${REPORT:-1}" = 0 ] && [ -f report/pareto.json ] || /usr/bin/time -v "${rq[@]}" report plain.bf16.gguf -o report --imatrix plain.imatrix.gguf --text calib.txt --eval-text held.txt \
    -c 512 --chunks "${EVAL_CHUNKS:--1}" ${TYPES:+--types "$TYPES"} --mix-ctx-size 512 --mix-chunks "${MIX_CHUNKS:-8}" --threads "$threads" \
    --device cpu --no-progress 2> report.err | tee report.txt
"$JAVA_HOME/bin/java" -Xmx2g "-Drequant.root=$root" -cp "$jar" "$root/bench/qat-train/TokenizeText.java" plain.bf16.gguf "$text" tokens.bin
[ "${JUDGE:-1}" = 0 ] || "$JAVA_HOME/bin/java" -Xmx2g "-Drequant.root=$root" -cp "$jar" "$root/bench/qat-train/JudgeWithLlamaCpp.java" tokens.bin "$PWD/plain.bf16.gguf" "$PWD"/report/*.gguf | tee judge-plain.txt

[ -f qat.bf16.gguf ] || "${rq[@]}" convert "$qat" -o qat.bf16.gguf --type bf16 --no-progress
[ -f qat.q4_0.gguf ] || "${rq[@]}" convert "$qat" -o qat.q4_0.gguf --type q4_0 --no-progress
[ -f qat.Q4_0-llamacpp.gguf ] || "${rq[@]}" quantize qat.bf16.gguf qat.Q4_0-llamacpp.gguf Q4_0 --no-progress
size=$(stat -c %s qat.q4_0.gguf)
[ -f qat.mix.gguf ] || "${rq[@]}" quantize qat.bf16.gguf qat.mix.gguf --target-size "$size" --text calib.txt -c 512 --chunks "${MIX_CHUNKS:-8}" \
    --threads "$threads" --device cpu --write-recipe qat.mix.txt --no-progress | tee qat.mix.out
"${rq[@]}" eval --base qat.bf16.gguf --compare qat.q4_0.gguf qat.Q4_0-llamacpp.gguf qat.mix.gguf --text held.txt -c 512 --chunks "${EVAL_CHUNKS:--1}" --threads "$threads" --device cpu --no-progress | tee qat.eval.txt
[ "${JUDGE:-1}" = 0 ] || "$JAVA_HOME/bin/java" -Xmx2g "-Drequant.root=$root" -cp "$jar" "$root/bench/qat-train/JudgeWithLlamaCpp.java" tokens.bin "$PWD/qat.bf16.gguf" "$PWD/qat.q4_0.gguf" "$PWD/qat.Q4_0-llamacpp.gguf" "$PWD/qat.mix.gguf" | tee judge-qat.txt
ls -la qat.*.gguf

# The issue's judgement: llama-perplexity -c 512 on the held-out text, KLD against the BF16 file's logits (base.kld)
lp=${LLAMA_PERPLEXITY:-}
[ -n "$lp" ] || { echo "LLAMA_PERPLEXITY not set: llama-perplexity's judgement skipped"; exit 0; }
[ -x "$lp" ] || { echo "LLAMA_PERPLEXITY=$lp: not an executable" >&2; exit 1; }
mkdir -p lp
judge() { # BASE.gguf BASE.kld FILE...
    local base=$1 kld=$2; shift 2
    [ -f "$kld" ] || nice -n 5 "$lp" -m "$base" -f held.txt -c 512 -t "$threads" --kl-divergence-base "$kld" > "lp/$(basename "$kld").txt" 2>&1
    for f in "$@"; do
        local o=lp/$(basename "$f" .gguf).txt
        [ -f "$o" ] && grep -q "Mean    KLD" "$o" && continue
        nice -n 5 "$lp" -m "$f" -f held.txt -c 512 -t "$threads" --kl-divergence-base "$kld" --kl-divergence > "$o.tmp" 2>&1 && mv "$o.tmp" "$o"
        echo "$(basename "$f"): $(grep "Mean    KLD" "$o")"
    done
}
judge plain.bf16.gguf plain.base.kld report/*.gguf
judge qat.bf16.gguf qat.base.kld qat.q4_0.gguf qat.Q4_0-llamacpp.gguf qat.mix.gguf
python3 "$root/bench/mix-targets.py" . | tee targets.txt

