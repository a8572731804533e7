#!/usr/bin/env bash
# Packs what bench/cuda-gpu.sh needs on a GPU machine into DIR: a small JRE (../shared/gpu/make-jre.sh), the cuda and
# formats modules with their test classes, their dependency jars, and the script itself.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
dir=$(readlink -f "${1:?target folder}")
cd "$root"
. scripts/jdk.sh
requant_find_jdk
export JAVA_HOME
mvn -B -q -o -pl cuda -am test-compile
rm -rf "$dir/lib" && mkdir -p "$dir/lib"
mvn -B -q -o -pl cuda dependency:copy-dependencies -DincludeScope=test -DexcludeGroupIds=dev.requant -DoutputDirectory="$dir/lib"
"$JAVA_HOME/bin/jar" cf "$dir/lib/requant-formats.jar" -C formats/target/classes .
"$JAVA_HOME/bin/jar" cf "$dir/lib/requant-cuda.jar" -C cuda/target/classes .
"$JAVA_HOME/bin/jar" cf "$dir/lib/requant-cuda-tests.jar" -C cuda/target/test-classes .
cp bench/cuda-gpu.sh "$dir/"
# jdk.zipfs: the JUnit launcher scans the test jar through the zip file system
[ -f "$dir/jre.tar.xz" ] || JRE_MODULES=java.base,java.logging,java.management,jdk.unsupported,jdk.zipfs,jdk.incubator.vector bash "$root/../shared/gpu/make-jre.sh" "$dir"
du -sh "$dir" "$dir/lib"
