#!/usr/bin/env bash
# The test command (README, .ci/run): builds everything and runs every test, including the interop tests that load
# our GGUF files in the real llama.cpp (node-llama-cpp, installed here from the npm registry, pinned).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
cd "$root"
. scripts/jdk.sh
requant_find_jdk
echo "test.sh: JDK $JAVA_HOME" >&2
# The interop tests must not skip in CI: with this set, a missing node/node-llama-cpp fails them instead.
export REQUANT_REQUIRE_INTEROP=1
# scripts/test-prepare-postgres.sh starts a PostgreSQL for the queue tests: here its absence is a failure, not a skip.
export REQUANT_REQUIRE_POSTGRES=1
for prep in scripts/test-prepare-*.sh; do
  [ -e "$prep" ] || continue
  echo "test.sh: $prep" >&2
  bash "$prep"
done
# The PostgreSQL that test-prepare-postgres.sh started is stopped at the end (REQUANT_KEEP_POSTGRES=1 keeps it).
trap 'bash scripts/test-stop-postgres.sh' EXIT
rc=0
mvn -B -ntp verify "$@" || rc=$?
# The launcher as users run it: once the jar is built, a second `./requant --version` (the first may make the start-up
# caches, and says so) prints the version and nothing on stderr.
if [ "$rc" -eq 0 ]; then
  ./requant --version >/dev/null 2>&1 || rc=1
  if ! err="$(./requant --version 2>&1 >/dev/null)" || [ -n "$err" ]; then
    echo "test.sh: FAILED: ./requant --version: ${err:-non-zero exit}" >&2
    rc=1
  fi
  # the JVM with the Vector API module too: its compiler directives (scripts/jit-vector-fallbacks.json) must parse, and
  # its stdout must be the plain JVM's (HotSpot announces directives there unless the launcher silences it)
  REQUANT_VECTOR=on ./requant --version >/dev/null 2>&1 || rc=1
  verr="$(mktemp)"
  if ! out="$(REQUANT_VECTOR=on ./requant --version 2>"$verr")" || [ -s "$verr" ] || [ "$out" != "$(./requant --version 2>/dev/null)" ]; then
    echo "test.sh: FAILED: REQUANT_VECTOR=on ./requant --version: $(cat "$verr") $out" >&2
    rc=1
  fi
  rm -f "$verr"
  # A stand-in JDK whose java prints its options shows what the launcher passes.
  fake="$(mktemp -d)"
  mkdir "$fake/bin"
  echo 'JAVA_VERSION="25.0.0"' >"$fake/release"
  printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"%s/args"\n' "$fake" >"$fake/bin/java"
  chmod +x "$fake/bin/java"
  # The launcher counts the CPUs it may run on as the JVM does (taskset, a container's cpuset): pinned to one CPU, it
  # gives the JVM two C2 threads (-XX:CICompilerCount=3).
  if command -v taskset >/dev/null 2>&1; then
    # the first CPU this process may run on (a container's cpuset need not hold CPU 0)
    cpu="$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)"
    REQUANT_NO_AOT=1 JAVA_HOME="$fake" taskset -c "${cpu:-0}" ./requant --version >/dev/null 2>&1 || true
    if ! grep -qx -- -XX:CICompilerCount=3 "$fake/args" 2>/dev/null; then
      echo "test.sh: FAILED: ./requant pinned to one CPU did not pass -XX:CICompilerCount=3 to java" >&2
      rc=1
    fi
  fi
  # Huge pages for the heap exactly where the kernel gives them on request (docs/launcher.md, "Huge pages for the heap").
  rm -f "$fake/args"
  REQUANT_NO_AOT=1 JAVA_HOME="$fake" ./requant --version >/dev/null 2>&1 || true
  want=0
  if grep -qF '[madvise]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then want=1; fi
  n="$(grep -cx -- -XX:+UseTransparentHugePages "$fake/args" 2>/dev/null || true)"
  if [ "${n:-0}" != "$want" ]; then
    echo "test.sh: FAILED: ./requant passed -XX:+UseTransparentHugePages ${n:-0} times, not $want (THP mode: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null))" >&2
    rc=1
  fi
  # No OSR for a conversion to Q4_0 with the QAT lattice on, and only for that (docs/launcher.md, "JIT policy").
  for c in "convert HF --type q4_0:1" "convert HF --type=Q4_0 --qat on:1" "convert HF --type q4_0 --qat off:0" \
      "convert HF --type q4_0 --qat=off:0" "convert HF --type q8_0:0" "quantize IN OUT IQ4_XS:0"; do
    rm -f "$fake/args"
    # shellcheck disable=SC2086 # the words of the case
    REQUANT_NO_AOT=1 JAVA_HOME="$fake" ./requant ${c%:*} >/dev/null 2>&1 || true
    n="$(grep -cx -- -XX:-UseOnStackReplacement "$fake/args" 2>/dev/null || true)"
    if [ "${n:-0}" != "${c##*:}" ]; then
      echo "test.sh: FAILED: ./requant ${c%:*} passed -XX:-UseOnStackReplacement ${n:-0} times, not ${c##*:}" >&2
      rc=1
    fi
  done
  rm -rf "$fake"
fi
# One line on what ran and what was skipped, and why (the reasons are otherwise only in the XML reports).
"$JAVA_HOME/bin/java" scripts/TestSummary.java "$root" >&2 || true
exit "$rc"
