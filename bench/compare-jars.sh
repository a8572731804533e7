#!/usr/bin/env bash
# Output parity of two requant builds: runs demo, convert (gemma3/gemma4 tiny, every convert type, QAT on/off),
# imatrix, quantize (every producible type, with and without the golden imatrix) and eval with JAR, writing OUTDIR/sums.txt
# (SHA-256 of every output). Run it with the old and the new jar and diff the two sums.txt (and eval.json, minus
# timings). usage: bench/compare-jars.sh JAR OUTDIR   (needs ../shared beside the checkout)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jar=$(readlink -f "$1"); out=$2; mkdir -p "$out"; cd "$out"
. "$here/../scripts/jdk.sh"; requant_find_jdk
J="$JAVA_HOME/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar $jar"
G=$(cd "$here/../.." && pwd)/shared/golden; [ -d "$G" ] || G=${REQUANT_SHARED:-../shared}/golden
$J demo --dir demo --threads 2 > demo.log 2>&1 || echo "demo failed"
hf=demo/qat-gemma3-hf
for t in bf16 q8_0 q4_0 f16 f32; do $J convert $G/hf/gemma3-tiny -o g3-$t.gguf --type $t --no-progress >/dev/null 2>&1 || echo "convert g3 $t failed"; done
for t in bf16 q8_0 q4_0; do $J convert $G/hf/gemma4-tiny -o g4-$t.gguf --type $t --no-progress >/dev/null 2>&1 || echo "convert g4 $t failed"; done
$J convert $hf -o qat-q4_0-on.gguf --type q4_0 --qat on --no-progress >/dev/null 2>&1 || echo "qat on failed"
$J convert $hf -o qat-q4_0-off.gguf --type q4_0 --qat off --no-progress >/dev/null 2>&1 || echo "qat off failed"
$J imatrix g3-bf16.gguf --text $G/text/calibration.txt -c 128 --chunks 4 -o g3.imatrix.gguf --no-progress > imatrix.log 2>&1 || echo "imatrix failed"
for t in Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K MXFP4_MOE F16 BF16 F32; do
  $J quantize g3-bf16.gguf q-$t.gguf $t 2 >/dev/null 2>&1 || echo "quantize $t failed"
  $J quantize --imatrix $G/llamacpp/gemma3-tiny.imatrix.gguf g3-bf16.gguf qi-$t.gguf $t 2 >/dev/null 2>&1 || echo "quantize imatrix $t failed"
done
$J eval --base g3-bf16.gguf --compare q-Q4_0.gguf q-Q8_0.gguf --text $G/text/calibration.txt -c 128 --chunks 3 --json eval.json --threads 2 > eval.log 2>&1 || echo "eval failed"
sha256sum *.gguf demo/*.gguf | sort -k2 > sums.txt
wc -l sums.txt
