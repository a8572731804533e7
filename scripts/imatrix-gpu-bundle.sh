#!/usr/bin/env bash
# Packs what bench/imatrix-gpu.sh needs on a GPU machine (no Java, no Maven, no network) into DIR:
#   jre.tar.xz      a small JDK 25 runtime (../shared/gpu/make-jre.sh)
#   lib/            requant.jar without the queue's database drivers and the plot library (not needed there),
#                   the cuda and runtime test classes, JUnit + AssertJ
#   golden.tar.xz   the golden gemma3-tiny and gemma4-tiny checkpoints and calibration.txt (read through REQUANT_SHARED)
#   imatrix-gpu.sh  the run itself
# usage: scripts/imatrix-gpu-bundle.sh DIR      (about 55 MB)
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
dir=$(mkdir -p "${1:?target folder}" && readlink -f "$1")
cd "$root"
. scripts/jdk.sh
requant_find_jdk
export JAVA_HOME
mvn -B -q -o package -DskipTests -pl cli -am
rm -rf "$dir/lib" && mkdir -p "$dir/lib"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$JAVA_HOME/bin/jar" xf "$root/cli/target/requant.jar" \
  && rm -rf org/sqlite org/postgresql org/flywaydb org/apache/pdfbox org/apache/fontbox de/rototor de/erichseifert \
            org/knowm META-INF/versions/*/org/sqlite \
  && "$JAVA_HOME/bin/jar" cfe "$dir/lib/requant-slim.jar" dev.requant.cli.Main .)
"$JAVA_HOME/bin/jar" cf "$dir/lib/requant-cuda-tests.jar" -C cuda/target/test-classes .
"$JAVA_HOME/bin/jar" cf "$dir/lib/requant-runtime-tests.jar" -C runtime/target/test-classes .
mvn -B -q -o -pl runtime dependency:copy-dependencies -DincludeScope=test -DexcludeGroupIds=dev.requant,com.fasterxml.jackson.core,com.fasterxml.jackson.dataformat,org.yaml,org.slf4j,org.jspecify -DoutputDirectory="$dir/lib"
shared=$(cd "$root/.." && pwd)/shared/golden
tar cJf "$dir/golden.tar.xz" -C "$shared/.." golden/hf/gemma3-tiny golden/hf/gemma4-tiny golden/text/calibration.txt
cp bench/imatrix-gpu.sh "$dir/"
[ -f "$dir/jre.tar.xz" ] || JRE_MODULES=java.base,java.logging,java.management,java.sql,jdk.unsupported,jdk.zipfs,jdk.incubator.vector \
  bash "$root/../shared/gpu/make-jre.sh" "$dir"
du -sh "$dir" "$dir"/lib/* "$dir"/*.tar.xz
