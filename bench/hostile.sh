#!/usr/bin/env bash
# Hostile inputs (issue 18): reruns testmodels' HostileCorpus, every malformed input through the requant CLI (inspect,
# convert, quantize, imatrix), each run its own JVM as a user would start it, and prints the runs per outcome (clean
# error, stack trace, hang, success on a detectable corruption, output or temporary file left, raw terminal controls)
# with peak RSS (/usr/bin/time); then kills convert and quantize mid-write with SIGTERM and SIGINT (leaked temporary
# files, half-written outputs) and with SIGKILL (is the dead writer's temporary file swept by the next write?).
#
#   bench/hostile.sh [--parallel N] [--timeout SECONDS] [--kills N] [--only REGEX]
#
# Defaults: 2 runs at a time, 60 s before a run counts as hung, 20 SIGTERM/SIGINT kills. Work files go to
# bench/out/hostile (the per-run results.csv too). The JVMs run with the default heap (a quarter of RAM), so an input
# that makes requant hold too much shows in the peak RSS instead of ending in an OutOfMemoryError.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
out="$root/bench/out/hostile"
mkdir -p "$out"
(cd "$root" && mvn -B -q -o -pl cli,bench -am package dependency:build-classpath -DskipTests \
    -Dmdep.outputFile="$out/classpath.txt" >/dev/null)
cp="$root/bench/target/classes:$(cat "$out/classpath.txt")"
jar="$root/cli/target/requant.jar"
java="$JAVA_HOME/bin/java"
# C1 only and the serial collector: each run is short, so start-up dominates; an AOT cache of the jar saves more
flags=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC)
aot="$out/requant.aot"
if [ ! -f "$aot" ] || [ "$jar" -nt "$aot" ]; then
  "$java" "${flags[@]}" -XX:AOTCacheOutput="$aot" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -jar "$jar" --help >/dev/null 2>&1 || rm -f "$aot"
fi
opts=()
for f in "${flags[@]}"; do opts+=(--jvm-opt "$f"); done
[ -f "$aot" ] && opts+=(--jvm-opt "-XX:AOTCache=$aot")
exec "$java" -Xmx1g -cp "$cp" dev.requant.bench.HostileBench "$out" "$java" "$jar" "${opts[@]}" "$@"
