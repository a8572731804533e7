#!/usr/bin/env bash
# Single-thread speed of the QAT lattice encoder per scale rule, next to llama.cpp's Q4_0 rule on the same floats
# (BENCHMARKS.md, "Speed of the lattice search"). One JVM per rule, so that one rule's JIT profile does not shape the
# code another rule runs.
#   bench/lattice.sh [MILLION_WEIGHTS]     (default 9.4)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
requant_find_jdk
out="$root/bench/out"
mkdir -p "$out"
# package, not install: the reactor resolves the sibling modules to their target/ jars, and ~/.m2 stays as it was
(cd "$root" && mvn -B -q -o -pl bench -am package dependency:build-classpath -DskipTests \
    -Dmdep.outputFile="$out/bench-classpath.txt" >/dev/null)
cp="$root/bench/target/classes:$(cat "$out/bench-classpath.txt")"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)"
for rule in MAX_NEG8 ABSMAX_7 LEARNED NONE; do
  "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -cp "$cp" dev.requant.bench.LatticeSpeed "${1:-9.4}" "$rule" 2>&1 \
    | grep -v incubat | { [ "$rule" = MAX_NEG8 ] && cat || tail -n 1; }
done
