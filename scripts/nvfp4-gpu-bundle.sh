#!/usr/bin/env bash
# Packs what bench/nvfp4-gpu.sh needs on a GPU machine into DIR: a small JRE (../shared/gpu/make-jre.sh), the requant
# fat jar, the runtime's FP4 test classes with JUnit, a quantized gemma3-tiny with its BF16 reference, and the script.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
dir=$(readlink -f "${1:?target folder}")
cd "$root"
. scripts/jdk.sh
requant_find_jdk
export JAVA_HOME
mvn -B -q -o -DskipTests package
mvn -B -q -o -pl runtime -am test-compile -Dsurefire.skip=true
rm -rf "$dir/lib" "$dir/data" && mkdir -p "$dir/lib/tests" "$dir/data"
cp cli/target/requant.jar "$dir/lib/"
mvn -B -q -o -pl runtime dependency:copy-dependencies -DincludeScope=test -DincludeGroupIds=org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian,org.assertj -DoutputDirectory="$dir/lib/tests"
"$JAVA_HOME/bin/jar" cf "$dir/lib/tests/requant-runtime-tests.jar" -C runtime/target/test-classes .
shared="$root/../shared"
java_run() { "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar cli/target/requant.jar "$@"; }
head -c 40000 "$shared/golden/text/calibration.txt" > "$dir/data/text.txt"
cp -r "$shared/golden/hf/gemma3-tiny" "$dir/data/bf16"
chmod -R u+w "$dir/data/bf16"
java_run quantize-nvfp4 "$dir/data/bf16" -o "$dir/data/nvfp4" --text "$dir/data/text.txt" -c 256 --chunks 4 \
  --imatrix "$shared/golden/llamacpp/gemma3-tiny.imatrix.gguf" >&2
cp bench/nvfp4-gpu.sh "$dir/"
[ -f "$dir/jre.tar.xz" ] || JRE_MODULES=java.base,java.logging,java.management,java.naming,java.sql,java.xml,java.desktop,jdk.unsupported,jdk.zipfs,jdk.incubator.vector bash "$shared/gpu/make-jre.sh" "$dir"
du -sh "$dir" "$dir/lib" "$dir/data"
